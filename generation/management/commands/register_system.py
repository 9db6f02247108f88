import json
from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from core import limits, strict_yaml
from generation.services import register_system
from generation.validation import ALL_KINDS, SystemConfigError


def parse_set(values: list[str]) -> dict:
    """--set key=value (value read as YAML: true, 0.9, null, [a, b]); dotted keys nest."""
    out: dict = {}
    for item in values:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CommandError(f"--set {item!r}: expected KEY=VALUE")
        try:
            value = strict_yaml.load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        target = out
        *parents, leaf = key.split(".")
        for p in parents:
            target = target.setdefault(p, {})
            if not isinstance(target, dict):
                raise CommandError(f"--set {item!r}: {p} is not a mapping")
        target[leaf] = value
    return out


def read_config_file(path: str) -> dict:
    p = Path(path)
    try:
        if p.stat().st_size > limits.SPEC_FILE_BYTES:
            raise CommandError(
                f"--config {path}: larger than {limits.SPEC_FILE_BYTES:,} bytes; a system "
                "config is a few options"
            )
        text = p.read_text(encoding="utf-8")
    except OSError as error:
        raise CommandError(f"--config {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise CommandError(f"--config {path}: not UTF-8 text (byte {error.start})") from None
    try:
        # strict: no anchors or aliases (a few lines could expand to gigabytes), no
        # duplicate keys, bounded nesting; problems with their line and column
        data = json.loads(text) if p.suffix == ".json" else strict_yaml.load(text)
    except ValueError as error:
        raise CommandError(f"--config {path}: not valid JSON: {error}") from None
    except yaml.YAMLError as error:
        raise CommandError(f"--config {path}: {strict_yaml.where(error, text)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CommandError(
            f"--config {path}: must hold a mapping of options, not {type(data).__name__}"
        )
    return data


class Command(BaseCommand):
    help = (
        "Register a system (a source of candidates), validated now: the folders exist, the model "
        "configs and tokenizers load, the decoding parameters are valid. Nothing is registered "
        "on error. E.g. register_system zephyr-sft --kind hf_causal --path /models/zephyr "
        "--adapter /models/sft --set chat_template=true --set max_new_tokens=64"
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="system name (a slug)")
        parser.add_argument(
            "--kind",
            choices=[str(kind) for kind in ALL_KINDS],
            help="default: the config file's 'kind'",
        )
        parser.add_argument(
            "--path", help="model folder (hf_causal, hf_seq2seq) or base model (dexperts)"
        )
        parser.add_argument("--adapter", help="PEFT/LoRA adapter folder (hf_causal)")
        parser.add_argument("--expert", help="expert model folder (dexperts)")
        parser.add_argument(
            "--anti-expert", dest="anti_expert", help="anti-expert model folder (dexperts)"
        )
        parser.add_argument(
            "--config", help="JSON or YAML file of options (flags and --set override it)"
        )
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="an option, repeatable: dtype, device, chat_template, system_prompt, "
            "alpha, base_top_p_filter, decoding parameters (max_new_tokens, top_p, "
            "seed, ...), samples_per_context, batch_size, chunk_size",
        )
        parser.add_argument(
            "--dataset",
            help="a dataset whose contexts are rendered as prompts now (checks the chat template)",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="replace the config of a registered system that has no candidates yet",
        )

    def handle(self, *args, **options):
        config: dict = {}
        base_dir = None
        if options["config"]:
            config = read_config_file(options["config"])
            base_dir = Path(options["config"]).resolve().parent
        kind = options["kind"] or config.pop("kind", None)
        config.pop("kind", None)
        config.pop("name", None)
        if kind is None:
            raise CommandError("kind: give --kind (one of " + ", ".join(ALL_KINDS) + ")")
        cwd = Path.cwd()
        flags = {
            "path": "base_path" if kind == "dexperts" else "path",
            "adapter": "adapter_path",
            "expert": "expert_path",
            "anti_expert": "antiexpert_path",
        }
        for option, key in flags.items():
            if options[option] is not None:
                config[key] = str((cwd / options[option]).resolve())
        nested = config.get("decoding") if isinstance(config.get("decoding"), dict) else None
        for key, value in parse_set(options["set"]).items():
            if key == "decoding" and isinstance(value, dict) and nested is not None:
                nested.update(value)
            elif nested is not None and key in nested:
                nested[key] = value  # --set top_k=10 overrides the file's decoding.top_k
            else:
                config[key] = value
        try:
            system = register_system(
                options["name"],
                kind,
                config,
                base_dir=base_dir,
                replace=options["replace"],
                dataset=options["dataset"],
            )
        except SystemConfigError as error:
            raise CommandError(f"system {options['name']!r} not registered:\n{error}") from None
        self.stdout.write(f"registered system {system.name!r} ({system.kind})")
        shown = {k: v for k, v in system.config.items() if k != "checkpoint"}
        if shown:
            self.stdout.write(json.dumps(shown, indent=2, sort_keys=True))
