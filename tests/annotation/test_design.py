"""Tests of the pure batch designer (annotation/design.py)."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from annotation.design import (
    BLOCK_RANDOMISED,
    PAIRWISE,
    SINGLE_SYSTEM,
    Design,
    DesignError,
    check_rating_parameters,
    design_pairwise_batches,
    design_rating_batches,
    design_report_text,
    insert_attention_checks,
    output_counts,
    sample_contexts,
)

# tests/conftest.py asks Django for the database vendor once collection is done; these
# pure tests are also run with `-p no:django`, which leaves the settings module unset.

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ids(n: int, prefix: str = "c") -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


def fingerprint(design: Design) -> str:
    text = json.dumps(design.to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- EmPO


EMPO_SYSTEMS = ["baseline", "sft_dpo", "human", "baseline_len_control"]
EMPO_BLOCKED = ["baseline", "sft_dpo", "human"]


def empo_design(seed: int = 0) -> Design:
    return design_rating_batches(
        ids(135),
        EMPO_SYSTEMS,
        batch_size=15,
        block_size=5,
        overlap=3,
        ordering="all_permutations",
        repeat_context_in_batch=False,
        block_randomised_systems=EMPO_BLOCKED,
        seed=seed,
    )


def test_empo_scheme_is_reproduced_exactly():
    d = empo_design()
    r = d.report
    # 108 annotator batches of 15 items, 1620 judgments.
    assert sum(b.slots for b in d.batches) == r["n_slots"] == 108
    assert all(len(b.items) == 15 for b in d.batches)
    assert r["n_judgments"] == 1620 == sum(b.slots * len(b.items) for b in d.batches)
    # Identical batches are stored once with more slots: the length-controlled
    # baseline's three identical single-system batches per group become one with 3 slots.
    assert len(d.batches) == r["n_batches"] == 90

    blocked = [b for b in d.batches if set(b.ordering) <= set(EMPO_BLOCKED)]
    len_control = [b for b in d.batches if b.ordering == ("baseline_len_control",) * 3]
    assert sum(b.slots for b in blocked) == 81
    assert sum(b.slots for b in len_control) == 27
    assert all(b.kind == SINGLE_SYSTEM and b.slots == 3 for b in len_control)

    perm_batches = [b for b in d.batches if b.kind == BLOCK_RANDOMISED]
    single_blocked = [b for b in blocked if b.kind == SINGLE_SYSTEM]
    assert len(perm_batches) == 54 and all(b.slots == 1 for b in perm_batches)  # 9 groups x 6
    assert len(single_blocked) == 27 and all(b.slots == 1 for b in single_blocked)  # 9 x 3

    # Per 15-context group: the 3! = 6 orders once each + one batch per system.
    groups: dict[frozenset, list] = {}
    for b in blocked:
        groups.setdefault(frozenset(it.context_id for it in b.items), []).append(b)
    assert len(groups) == 9
    for batches in groups.values():
        orders = sorted(b.ordering for b in batches if b.kind == BLOCK_RANDOMISED)
        assert orders == sorted(itertools.permutations(EMPO_BLOCKED))
        singles = sorted(b.ordering[0] for b in batches if b.kind == SINGLE_SYSTEM)
        assert singles == sorted(EMPO_BLOCKED)
        # "shown in the same order": every batch of a group has one context order
        assert len({tuple(it.context_id for it in b.items) for b in batches}) == 1

    # Blocks of 5 outputs from one system.
    for b in perm_batches:
        for it in b.items:
            assert it.block_index == it.position // 5
            assert it.systems == (b.ordering[it.block_index],)

    # Each of the 540 outputs judged exactly 3 times; 135 contexts per system.
    counts = output_counts(d)
    assert len(counts) == 135 * 4 and set(counts.values()) == {3}
    assert r["judgments_per_output"] == {"3": 540}
    assert r["block_orders"] == {" > ".join(p): 9 for p in itertools.permutations(EMPO_BLOCKED)}
    assert r["balanced"] == {
        "outputs": True,
        "positions": True,
        "block_orders": True,
        "sides": None,
    }
    assert all(len(set(v)) == 1 for v in r["system_position"].values())
    assert r["max_context_repeats_in_batch"] == 1


def test_report_is_json_and_text_table_names_the_figures():
    d = empo_design()
    assert json.loads(json.dumps(d.report)) == d.report
    text = design_report_text(d.report)
    assert "90 distinct, 108 annotator slots, 1620 judgments" in text
    assert "540 outputs x 3" in text
    assert "baseline > sft_dpo > human" in text
    assert "Balanced: positions yes, block orders yes" in text


def test_design_is_identical_in_another_process():
    here = fingerprint(empo_design(seed=11))
    args = json.dumps([str(ROOT), EMPO_SYSTEMS, EMPO_BLOCKED])
    code = (
        "import hashlib, json, sys\n"
        "root, systems, blocked = json.loads(sys.argv[1]); sys.path.insert(0, root)\n"
        "from annotation.design import design_rating_batches\n"
        "d = design_rating_batches([f'c{i:03d}' for i in range(135)], systems, 15, 5, 3,"
        " 'all_permutations', False, blocked, 11)\n"
        "print(hashlib.sha256(json.dumps(d.to_dict(), sort_keys=True).encode()).hexdigest())"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run(
        [sys.executable, "-c", code, args], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == here


def test_different_seeds_give_different_designs():
    assert fingerprint(empo_design(0)) != fingerprint(empo_design(1))


# --------------------------------------------------------------------------- rating properties


@st.composite
def rating_params(draw):
    m = draw(st.sampled_from([0, 2, 3, 4]))  # block-randomised systems (1 is rejected)
    extra = draw(st.integers(0 if m >= 2 else 1, 2))  # single-system-only systems
    blocks = draw(st.integers(2 if m >= 2 else 1, 4))
    block_size = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    ordering = draw(st.sampled_from(["all_permutations", "latin_square", "random"]))
    min_overlap = math.factorial(m - 1) if (m >= 2 and ordering == "all_permutations") else 1
    overlap = draw(st.integers(min_overlap, max(min_overlap, 4)))
    systems = [f"s{i}" for i in range(m + extra)]
    brs = systems[:m]
    batch_size = blocks * block_size
    return dict(
        context_ids=ids(groups * batch_size),
        systems=systems,
        batch_size=batch_size,
        block_size=block_size,
        overlap=overlap,
        ordering=ordering,
        repeat_context_in_batch=False,
        block_randomised_systems=brs,
        seed=draw(st.integers(0, 2**32)),
    )


@SETTINGS
@given(rating_params())
def test_rating_every_output_gets_exactly_overlap_judgments(p):
    d = design_rating_batches(**p)
    counts = output_counts(d)
    assert set(counts) == {(c, (s,)) for c in p["context_ids"] for s in p["systems"]}
    assert set(counts.values()) == {p["overlap"]}
    assert d.report["balanced"]["outputs"] is True
    assert d.report["n_judgments"] == len(p["context_ids"]) * len(p["systems"]) * p["overlap"]


@SETTINGS
@given(rating_params())
def test_rating_batches_are_well_formed(p):
    d = design_rating_batches(**p)
    b_size, blk = p["batch_size"], p["block_size"]
    assert [b.index for b in d.batches] == list(range(len(d.batches)))
    seen = set()
    for b in d.batches:
        assert b.slots >= 1
        assert len(b.items) == b_size
        assert len(b.ordering) == b_size // blk
        assert [it.position for it in b.items] == list(range(b_size))
        # no context twice in a batch
        assert len({it.context_id for it in b.items}) == b_size
        for it in b.items:
            assert it.block_index == it.position // blk
            assert it.systems == (b.ordering[it.block_index],)
        if b.kind == SINGLE_SYSTEM:
            assert len(set(b.ordering)) == 1
        else:
            assert b.kind == BLOCK_RANDOMISED
            assert set(b.ordering) <= set(p["block_randomised_systems"])
            assert len(set(b.ordering)) == min(len(b.ordering), len(p["block_randomised_systems"]))
        key = (b.kind, b.ordering, b.items)
        assert key not in seen  # identical batches are merged into slots
        seen.add(key)
    # systems outside block randomisation only ever get single-system batches
    for b in d.batches:
        if b.kind == BLOCK_RANDOMISED:
            assert not set(b.ordering) - set(p["block_randomised_systems"])


@SETTINGS
@given(rating_params())
def test_rating_positions_and_orders_are_balanced(p):
    d = design_rating_batches(**p)
    r = d.report
    # each system is judged equally often at every position of the batch
    for s in p["systems"]:
        per_pos = r["system_position"][s]
        assert len(set(per_pos)) == 1
        assert len(set(r["system_block_position"][s])) == 1
    assert r["balanced"]["positions"] is True
    brs = p["block_randomised_systems"]
    m = len(brs)
    orders = Counter()
    for b in d.batches:
        if b.kind == BLOCK_RANDOMISED:
            orders[b.ordering] += b.slots
    if m < 2:
        assert not orders
        return
    blocks = p["batch_size"] // p["block_size"]
    # block position balance, counting block-randomised batches only
    pos = Counter()
    for order, n in orders.items():
        for j, s in enumerate(order):
            pos[(s, j)] += n
    assert len({pos[(s, j)] for s in brs for j in range(blocks)}) == 1
    if p["ordering"] == "all_permutations":
        expected = {
            tuple(perm[(j) % m] for j in range(blocks)) for perm in itertools.permutations(brs)
        }
        assert set(orders) == expected
        assert len(set(orders.values())) == 1
        assert r["balanced"]["block_orders"] is True
        full_sets = p["overlap"] // math.factorial(m - 1)
        remainder = p["overlap"] % math.factorial(m - 1)
        singles = sum(
            b.slots for b in d.batches if b.kind == SINGLE_SYSTEM and b.ordering[0] in brs
        )
        assert singles == remainder * m * len(p["context_ids"]) // p["batch_size"]
        assert (
            sum(orders.values())
            == full_sets * math.factorial(m) * len(p["context_ids"]) // p["batch_size"]
        )
    elif p["ordering"] == "latin_square":
        # each rotation batch is reused by `overlap` annotators
        assert all(b.slots % p["overlap"] == 0 for b in d.batches if b.kind == BLOCK_RANDOMISED)
        assert not any(b.kind == SINGLE_SYSTEM and b.ordering[0] in brs for b in d.batches)


@SETTINGS
@given(rating_params())
def test_rating_design_is_deterministic_for_a_seed(p):
    assert fingerprint(design_rating_batches(**p)) == fingerprint(design_rating_batches(**p))


@SETTINGS
@given(rating_params(), st.integers(0, 2**32))
def test_rating_seed_changes_the_design(p, other_seed):
    assume(other_seed != p["seed"])
    assume(len(p["context_ids"]) >= 8)
    seeds = [other_seed + i for i in range(4)]
    base = fingerprint(design_rating_batches(**p))
    assert any(fingerprint(design_rating_batches(**{**p, "seed": s})) != base for s in seeds)


def test_latin_square_batches_get_overlap_slots():
    d = design_rating_batches(ids(12), ["a", "b", "c"], 6, 2, 3, "latin_square", False, None, 0)
    assert {b.kind for b in d.batches} == {BLOCK_RANDOMISED}
    assert len(d.batches) == 2 * 3  # 2 groups x 3 rotations
    assert all(b.slots == 3 for b in d.batches)
    # the two groups use the two different cyclic squares: all 6 orders appear
    assert len({b.ordering for b in d.batches}) == 6


def test_fewer_systems_than_blocks_tiles_the_order():
    d = design_rating_batches(ids(8), ["a", "b"], 8, 2, 2, "all_permutations", False, None, 0)
    assert {b.ordering for b in d.batches} == {("a", "b", "a", "b"), ("b", "a", "b", "a")}
    assert set(output_counts(d).values()) == {2}


def test_more_systems_than_blocks_shows_a_subset_per_batch():
    d = design_rating_batches(
        ids(4), ["a", "b", "c", "d"], 4, 2, 6, "all_permutations", False, None, 0
    )
    orders = Counter()
    for b in d.batches:
        orders[b.ordering] += b.slots
    assert set(orders) == {(x, y) for x in "abcd" for y in "abcd" if x != y}
    assert set(orders.values()) == {2}  # each ordered pair from 2 of the 24 permutations
    assert set(output_counts(d).values()) == {6}


def test_block_size_equal_to_batch_size_gives_single_system_batches():
    d = design_rating_batches(ids(10), ["a", "b"], 5, None, 3, "all_permutations", False, None, 0)
    assert {b.kind for b in d.batches} == {SINGLE_SYSTEM}
    assert all(b.slots == 3 for b in d.batches)
    assert d.report["block_randomised_systems"] == []


@pytest.mark.parametrize(
    "kwargs, param, fragment",
    [
        (dict(batch_size=15, block_size=4), "block_size", "4 does not divide batch_size 15"),
        (
            dict(n=130),
            "context_ids",
            "130 contexts do not fill whole batches of 15; sample 120 or 135",
        ),
        (dict(overlap=1), "overlap", "(3-1)! = 2 judgments, more than overlap 1"),
        (
            dict(block_size=15, brs=["a", "b"]),
            "block_randomised_systems",
            "needs at least 2 blocks per batch",
        ),
        (dict(brs=["a"]), "block_randomised_systems", "at least 2 systems"),
        (dict(brs=["a", "zz"]), "block_randomised_systems", "unknown systems: zz"),
        (dict(ordering="shuffled"), "ordering", "'shuffled' is not one of all_permutations"),
        (dict(overlap=0), "overlap", "must be a positive integer"),
    ],
)
def test_rating_rejects_impossible_parameters(kwargs, param, fragment):
    n = kwargs.pop("n", 135)
    args = dict(batch_size=15, block_size=5, overlap=3, ordering="all_permutations", brs=None)
    args.update(kwargs)
    problems = check_rating_parameters(
        n,
        ["a", "b", "c"],
        args["batch_size"],
        args["block_size"],
        args["overlap"],
        args["ordering"],
        args["brs"],
    )
    assert any(p == param and fragment in r for p, r in problems), problems
    with pytest.raises(DesignError) as info:
        design_rating_batches(
            ids(n),
            ["a", "b", "c"],
            args["batch_size"],
            args["block_size"],
            args["overlap"],
            args["ordering"],
            False,
            args["brs"],
            0,
        )
    assert fragment in str(info.value)


def test_fill_message_suggests_batch_sizes_that_divide():
    problems = check_rating_parameters(12, ["a"], 5, 5, 1, "latin_square", None)
    assert problems == [
        (
            "context_ids",
            "12 contexts do not fill whole batches of 5; sample 10 or 15 "
            "contexts, or use a batch_size that divides 12 (2, 3, 4, 6)",
        )
    ]


# --------------------------------------------------------------------------- pairwise


@st.composite
def pairwise_params(draw):
    n_systems = draw(st.integers(2, 4))
    systems = [f"s{i}" for i in range(n_systems)]
    all_pairs = list(itertools.combinations(systems, 2))
    pairs = draw(
        st.lists(st.sampled_from(all_pairs), min_size=1, max_size=len(all_pairs), unique=True)
    )
    pairs = [tuple(reversed(p)) if draw(st.booleans()) else p for p in pairs]
    batch_size = draw(st.integers(1, 6))
    repeat = draw(st.booleans())
    if repeat:
        n = draw(st.integers(1, 14))
        assume((n * len(pairs)) % batch_size == 0)
    else:
        n = batch_size * draw(st.integers(1, 4))
    return dict(
        context_ids=ids(n),
        pairs=pairs,
        batch_size=batch_size,
        overlap=draw(st.integers(1, 5)),
        repeat_context_in_batch=repeat,
        seed=draw(st.integers(0, 2**32)),
    )


@SETTINGS
@given(pairwise_params())
def test_pairwise_every_comparison_gets_exactly_overlap_judgments(p):
    d = design_pairwise_batches(**p)
    counts = output_counts(d)
    expected = {(c, tuple(sorted(pair))) for c in p["context_ids"] for pair in p["pairs"]}
    assert set(counts) == expected
    assert set(counts.values()) == {p["overlap"]}
    for b in d.batches:
        assert b.kind == PAIRWISE and b.ordering == () and len(b.items) == p["batch_size"]
        assert [it.position for it in b.items] == list(range(p["batch_size"]))
        # never the same comparison twice in a batch
        assert len({(it.context_id, frozenset(it.systems)) for it in b.items}) == len(b.items)
        if not p["repeat_context_in_batch"]:
            assert len({it.context_id for it in b.items}) == len(b.items)
        for it in b.items:
            assert tuple(sorted(it.systems)) in {tuple(sorted(q)) for q in p["pairs"]}


@SETTINGS
@given(pairwise_params())
def test_pairwise_left_right_is_balanced(p):
    d = design_pairwise_batches(**p)
    for pair in p["pairs"]:
        left = Counter()
        for b in d.batches:
            for it in b.items:
                if set(it.systems) == set(pair):
                    left[it.systems[0]] += b.slots
        a, b_ = left[pair[0]], left[pair[1]]
        total = a + b_
        assert total == len(p["context_ids"]) * p["overlap"]
        assert abs(a - b_) <= 1
        if total % 2 == 0:
            assert a == b_
        assert d.report["pair_sides"][f"{pair[0]} vs {pair[1]}"] == {pair[0]: a, pair[1]: b_}
    assert d.report["balanced"]["sides"] is True
    if not p["repeat_context_in_batch"]:
        # each pair visits each position equally often
        assert d.report["balanced"]["positions"] is True


@SETTINGS
@given(pairwise_params())
def test_pairwise_design_is_deterministic_for_a_seed(p):
    assert fingerprint(design_pairwise_batches(**p)) == fingerprint(design_pairwise_batches(**p))


def test_pairwise_single_pair_overlap_two_shows_each_side_once_per_comparison():
    d = design_pairwise_batches(ids(8), [("x", "y")], 4, 2, False, 3)
    per_comparison = Counter()
    for b in d.batches:
        for it in b.items:
            per_comparison[(it.context_id, it.systems)] += b.slots
    assert set(per_comparison.values()) == {1}
    assert len(per_comparison) == 16


def test_pairwise_rejects_contexts_that_do_not_fill_batches():
    with pytest.raises(DesignError) as info:
        design_pairwise_batches(ids(7), [("a", "b"), ("a", "c"), ("b", "c")], 3, 2, False, 0)
    assert "7 contexts do not fill whole batches of 3" in str(info.value)
    assert "repeat_context_in_batch: true" in str(info.value)
    # allowed once contexts may repeat: 7 x 3 = 21 comparisons fill 7 batches
    d = design_pairwise_batches(ids(7), [("a", "b"), ("a", "c"), ("b", "c")], 3, 2, True, 0)
    assert set(output_counts(d).values()) == {2}


def test_pairwise_rejects_bad_pairs():
    with pytest.raises(DesignError) as info:
        design_pairwise_batches(ids(4), [("a", "a"), ("a", "b"), ("b", "a")], 2, 2)
    assert "pair 0 must be two different systems" in str(info.value)
    assert "pair 2 ['b', 'a'] is listed twice" in str(info.value)


def test_pairwise_report_text():
    d = design_pairwise_batches(ids(8), [("guided", "vanilla")], 4, 2)
    text = design_report_text(d.report)
    assert "Pairwise design: 8 contexts, pairs guided vs vanilla" in text
    assert "Balanced: sides yes, positions yes" in text


# --------------------------------------------------------------------------- sampling


@st.composite
def strata_params(draw):
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=6))
    per = draw(st.integers(1, min(sizes)))
    total = sum(sizes)
    base = per * len(sizes)
    n = draw(st.one_of(st.none(), st.integers(base, total)))
    contexts = []
    for s, size in enumerate(sizes):
        for i in range(size):
            contexts.append((f"s{s}-{i}", {"emotion": f"e{s:02d}", "other": i}))
    order = draw(st.permutations(contexts))
    return dict(
        contexts=list(order),
        n_contexts=n,
        stratify_by="emotion",
        per_stratum=per,
        seed=draw(st.integers(0, 2**32)),
    ), sizes


@SETTINGS
@given(strata_params())
def test_stratified_sampling_takes_per_stratum_from_each(args):
    p, sizes = args
    chosen = sample_contexts(**p)
    assert len(chosen) == len(set(chosen))
    by_stratum = Counter(cid.split("-")[0] for cid in chosen)
    per = p["per_stratum"]
    assert all(by_stratum[f"s{s}"] >= per for s in range(len(sizes)))
    expected = p["n_contexts"] if p["n_contexts"] is not None else per * len(sizes)
    assert len(chosen) == expected
    # strata in sorted order first, per_stratum each
    head = chosen[: per * len(sizes)]
    assert [cid.split("-")[0] for cid in head] == [
        f"s{s}" for s in range(len(sizes)) for _ in range(per)
    ]
    assert sample_contexts(**p) == chosen


def test_empo_sampling_32_emotions_4_each_then_135():
    contexts = [(f"c{e}-{i}", {"emotion": f"emotion{e:02d}"}) for e in range(32) for i in range(20)]
    chosen = sample_contexts(contexts, 135, "emotion", 4, seed=0)
    assert len(chosen) == len(set(chosen)) == 135
    counts = Counter(cid.split("-")[0] for cid in chosen)
    assert len(counts) == 32 and min(counts.values()) >= 4
    assert sum(counts.values()) == 135
    # per_stratum defaults to n // strata
    chosen = sample_contexts(contexts, 135, "emotion", None, seed=0)
    assert min(Counter(cid.split("-")[0] for cid in chosen).values()) >= 4


def test_sampling_without_strata_and_with_records():
    from annotation.spec import ContextRecord, Turn

    records = [ContextRecord(f"r{i}", (Turn("A", "hi"),), None, {"k": i % 2}) for i in range(10)]
    assert sample_contexts(records) == [f"r{i}" for i in range(10)]
    four = sample_contexts(records, 4, seed=5)
    assert len(set(four)) == 4 and four == sample_contexts(records, 4, seed=5)
    assert (
        sample_contexts(records, 4, seed=5) != sample_contexts(records, 4, seed=6)
        or sample_contexts(records, 4, seed=7) != four
    )


@pytest.mark.parametrize(
    "kwargs, param, fragment",
    [
        (dict(n_contexts=50), "n_contexts", "50 requested but only 12 contexts available"),
        (dict(stratify_by="emotion", per_stratum=5), "per_stratum", "'b' has 4"),
        (
            dict(stratify_by="emotion", per_stratum=2, n_contexts=5),
            "n_contexts",
            "5 is fewer than per_stratum 2 x 3 strata = 6",
        ),
        (dict(stratify_by="topic", per_stratum=1), "stratify_by", "'topic' is missing"),
        (dict(per_stratum=1), "per_stratum", "needs stratify_by"),
        (dict(stratify_by="emotion"), "per_stratum", "needs per_stratum or n_contexts"),
    ],
)
def test_sampling_errors(kwargs, param, fragment):
    contexts = [(f"c{i}", {"emotion": "abc"[i % 3] if i < 11 else "a"}) for i in range(12)]
    with pytest.raises(DesignError) as info:
        sample_contexts(contexts, **kwargs)
    assert any(p == param and fragment in r for p, r in info.value.problems), info.value.problems


# --------------------------------------------------------------------------- attention checks


def check_ids(n: int) -> list[str]:
    return [f"chk{i}" for i in range(n)]


def assert_attention_properties(base: Design, d: Design, checks: list[str], per_batch: int):
    assert len(d.batches) == len(base.batches)
    uses: Counter = Counter()
    for before, after in zip(base.batches, d.batches, strict=True):
        assert (after.index, after.slots, after.kind, after.ordering) == (
            before.index,
            before.slots,
            before.kind,
            before.ordering,
        )
        assert [it.position for it in after.items] == list(range(len(after.items)))
        marks = [it.attention_check for it in after.items]
        attention = [it for it in after.items if it.attention_check is not None]
        # exactly per_batch distinct checks, never first
        assert len(attention) == per_batch
        assert len({it.attention_check for it in attention}) == per_batch
        assert set(it.attention_check for it in attention) <= set(checks)
        assert marks[0] is None
        # real items keep their order (and everything but the screen position)
        real = [it for it in after.items if it.attention_check is None]
        assert [it._replace(position=0) for it in real] == [
            it._replace(position=0) for it in before.items
        ]
        # an attention item takes the block of the real item after it (else the last one's)
        for i, it in enumerate(after.items):
            if it.attention_check is None:
                continue
            assert it.context_id == it.attention_check
            following = [x for x in after.items[i + 1 :] if x.attention_check is None]
            expected = following[0].block_index if following else real[-1].block_index
            assert it.block_index == expected
            uses[it.attention_check] += 1
    # k coverage of the real outputs is unchanged
    assert output_counts(d) == output_counts(base)
    # rotation: every check is used about equally often (within one batch)
    if per_batch:
        counts = [uses[c] for c in checks]
        assert max(counts) - min(counts) <= 1
    report = d.report["attention"]
    assert report["per_batch"] == per_batch and report["checks"] == checks
    assert report["n_judgments"] == per_batch * base.report["n_slots"]
    assert report["batches_per_check"] == {c: uses[c] for c in checks}
    assert report["position"][0] == 0
    assert {k: v for k, v in d.report.items() if k != "attention"} == base.report


@SETTINGS
@given(rating_params(), st.integers(1, 5), st.data())
def test_attention_checks_in_rating_designs(p, n_checks, data):
    per_batch = data.draw(st.integers(0, n_checks))
    seed = data.draw(st.integers(0, 2**32))
    base = design_rating_batches(**p)
    checks = check_ids(n_checks)
    d = insert_attention_checks(base, checks, per_batch, seed)
    assert_attention_properties(base, d, checks, per_batch)
    for b in d.batches:
        for it in b.items:
            if it.attention_check is not None:
                assert it.systems == ("response",)
    # deterministic for a seed
    assert fingerprint(insert_attention_checks(base, checks, per_batch, seed)) == fingerprint(d)


@SETTINGS
@given(pairwise_params(), st.integers(1, 4), st.data())
def test_attention_checks_in_pairwise_designs(p, n_checks, data):
    per_batch = data.draw(st.integers(0, n_checks))
    seed = data.draw(st.integers(0, 2**32))
    base = design_pairwise_batches(**p)
    checks = check_ids(n_checks)
    d = insert_attention_checks(base, checks, per_batch, seed)
    assert_attention_properties(base, d, checks, per_batch)
    left: Counter = Counter()
    for b in d.batches:
        for it in b.items:
            if it.attention_check is not None:
                assert it.systems in {("response_a", "response_b"), ("response_b", "response_a")}
                left[(it.attention_check, it.systems[0])] += b.slots
    # response A is shown left about half the time: the sides differ by at most one batch
    # (identical batches are merged into one with more slots)
    sides = d.report["attention"]["response_a_left"]
    most = max(b.slots for b in d.batches)
    for c in checks:
        assert sides[c] == {"left": left[(c, "response_a")], "right": left[(c, "response_b")]}
        assert abs(sides[c]["left"] - sides[c]["right"]) <= most
    assert fingerprint(insert_attention_checks(base, checks, per_batch, seed)) == fingerprint(d)


def test_attention_positions_vary_with_the_seed_and_are_spread():
    base = empo_design()
    a = insert_attention_checks(base, ["x", "y", "z"], 2, seed=1)
    b = insert_attention_checks(base, ["x", "y", "z"], 2, seed=2)
    assert fingerprint(a) != fingerprint(b)
    positions = a.report["attention"]["position"]
    assert len(positions) == 17 and positions[0] == 0
    assert sum(1 for n in positions if n) >= 10  # all over the batch, not in one place
    assert sum(a.report["attention"]["uses"].values()) == 2 * 108
    text = design_report_text(a.report)
    assert "Attention checks: 2 per batch at seeded positions (never first), 216" in text
    assert "Balanced: positions yes, block orders yes" in text  # real items as before


def test_attention_report_text_for_pairwise_names_the_sides():
    base = design_pairwise_batches(ids(8), [("g", "v")], 4, 2, False, 0)
    text = design_report_text(insert_attention_checks(base, ["rude"], 1, 0).report)
    assert "A left / right" in text and "rude" in text and "2 / 2" in text


def test_no_attention_checks_leave_the_batches_alone():
    base = design_rating_batches(ids(6), ["a", "b"], 3, 1, 1, "latin_square", False, None, 0)
    d = insert_attention_checks(base, [], 0, 0)
    assert d.batches == base.batches
    assert d.report["attention"]["n_judgments"] == 0
    assert "Attention checks" not in design_report_text(d.report)


@pytest.mark.parametrize(
    "checks, per_batch, param, fragment",
    [
        (["x"], 2, "attention_checks_per_batch", "2 per batch needs 2 distinct attention checks"),
        (["x", "x"], 1, "attention_checks", "duplicate check ids: x"),
        (["x"], -1, "attention_checks_per_batch", "must be a whole number >= 0"),
        (["x"], True, "attention_checks_per_batch", "must be a whole number >= 0"),
    ],
)
def test_attention_parameters_are_checked(checks, per_batch, param, fragment):
    base = design_rating_batches(ids(6), ["a", "b"], 3, 1, 1, "latin_square", False, None, 0)
    with pytest.raises(DesignError) as info:
        insert_attention_checks(base, checks, per_batch, 0)
    assert any(p == param and fragment in r for p, r in info.value.problems), info.value.problems


def test_attention_checks_are_inserted_once():
    base = design_rating_batches(ids(6), ["a", "b"], 3, 1, 1, "latin_square", False, None, 0)
    once = insert_attention_checks(base, ["x"], 1, 0)
    with pytest.raises(DesignError, match="already has attention checks"):
        insert_attention_checks(once, ["x"], 1, 0)


def test_attention_insertion_is_identical_in_another_process():
    here = fingerprint(insert_attention_checks(empo_design(seed=11), ["x", "y", "z"], 2, 11))
    args = json.dumps([str(ROOT), EMPO_SYSTEMS, EMPO_BLOCKED])
    code = (
        "import hashlib, json, sys\n"
        "root, systems, blocked = json.loads(sys.argv[1]); sys.path.insert(0, root)\n"
        "from annotation.design import design_rating_batches, insert_attention_checks\n"
        "d = design_rating_batches([f'c{i:03d}' for i in range(135)], systems, 15, 5, 3,"
        " 'all_permutations', False, blocked, 11)\n"
        "d = insert_attention_checks(d, ['x', 'y', 'z'], 2, 11)\n"
        "print(hashlib.sha256(json.dumps(d.to_dict(), sort_keys=True).encode()).hexdigest())"
    )
    env = dict(os.environ, PYTHONHASHSEED="999")
    out = subprocess.run(
        [sys.executable, "-c", code, args], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == here
