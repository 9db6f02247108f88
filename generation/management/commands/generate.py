import argparse
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from generation import selectors, services
from generation.management.commands.register_system import parse_set
from generation.models import Context, Dataset, GenerationJob, System
from generation.progress import listen


class Command(BaseCommand):
    help = (
        "Run a generation job and show its progress. "
        "generate JOB: dispatch a pending job (or watch a running one); "
        "generate JOB --resume: re-dispatch only the chunks with missing candidates; "
        "generate --cancel JOB; "
        "generate --system NAME --dataset NAME [--limit N] [--set max_new_tokens=40]: create a job and run it. "
        "Without CELERY_BROKER_URL the chunks run in this process."
    )

    def add_arguments(self, parser):
        parser.add_argument("job", nargs="?", type=int, help="job id")
        parser.add_argument(
            "--resume", action="store_true", help="re-dispatch the chunks with missing keys"
        )
        parser.add_argument("--cancel", action="store_true", help="cancel the job")
        parser.add_argument("--system", help="create a job for this system …")
        parser.add_argument("--dataset", help="… over this dataset's contexts")
        parser.add_argument(
            "--contexts", nargs="+", metavar="EXTERNAL_ID", help="only these contexts"
        )
        parser.add_argument("--limit", type=int, help="only the first N contexts (by id)")
        parser.add_argument(
            "--samples", type=int, help="samples per context (default: the system's)"
        )
        parser.add_argument(
            "--chunk-size", type=int, help="contexts per task (default: the system's)"
        )
        parser.add_argument(
            "--batch-size", type=int, help="sequences per forward pass (default: the system's)"
        )
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a decoding parameter, repeatable (max_new_tokens=40, seed=3)",
        )
        parser.add_argument(
            "--no-wait", action="store_true", help="dispatch and return (broker mode)"
        )
        parser.add_argument(
            "--timeout", type=float, default=None, help="stop waiting after this many seconds"
        )
        parser.add_argument("--poll", type=float, default=0.5, help=argparse.SUPPRESS)

    def handle(self, *args, **options):
        if options["job"] is None:
            if not (options["system"] and options["dataset"]):
                raise CommandError("give a job id, or --system and --dataset to create a job")
            if options["cancel"] or options["resume"]:
                raise CommandError("--cancel and --resume need a job id")
            job = self._create(options)
            self.stdout.write(
                f"created job {job.pk}: {job.system.name} over "
                f"{selectors.job_progress(job).total} candidates"
            )
            self._dispatch(job, services.dispatch_job, options)
            return
        job = GenerationJob.objects.select_related("system").filter(pk=options["job"]).first()
        if job is None:
            raise CommandError(f"no generation job {options['job']}")
        if options["cancel"]:
            services.cancel_job(job)
            p = selectors.job_progress(job)
            self.stdout.write(f"job {job.pk} {p.status} ({p.done}/{p.total} candidates stored)")
            return
        if options["resume"]:
            self._dispatch(job, services.resume_job, options)
        elif job.status == GenerationJob.Status.PENDING:
            self._dispatch(job, services.dispatch_job, options)
        elif job.status == GenerationJob.Status.RUNNING and not options["no_wait"]:
            self._wait(job, options)
        else:
            self._report(selectors.job_progress(job))

    def _create(self, options) -> GenerationJob:
        system = System.objects.filter(name=options["system"]).first()
        if system is None:
            raise CommandError(
                f"--system: no system named {options['system']!r} (register_system creates one)"
            )
        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"--dataset: no dataset named {options['dataset']!r}")
        contexts = Context.objects.filter(dataset=dataset).order_by("pk")
        if options["contexts"]:
            wanted = list(dict.fromkeys(options["contexts"]))
            contexts = contexts.filter(external_id__in=wanted)
            found = set(contexts.values_list("external_id", flat=True))
            missing = [c for c in wanted if c not in found]
            if missing:
                raise CommandError(
                    f"--contexts: not in dataset {dataset.name!r}: {', '.join(missing[:10])}"
                )
        if options["limit"] is not None:
            contexts = contexts[: options["limit"]]
        try:
            return services.create_job(
                system,
                list(contexts.values_list("pk", flat=True)),
                decoding=parse_set(options["set"]),
                samples_per_context=options["samples"],
                chunk_size=options["chunk_size"],
                batch_size=options["batch_size"],
            )
        except selectors.JobError as error:
            raise CommandError(str(error)) from None

    def _bar(self, job):
        p = selectors.job_progress(job)
        return tqdm(
            total=p.total,
            initial=p.done,
            unit=" candidates",
            desc=f"job {job.pk}",
            file=getattr(self.stderr, "_out", sys.stderr),
            mininterval=0.2,
            dynamic_ncols=True,
        )

    def _dispatch(self, job, action, options):
        bar = self._bar(job)

        def update(progress):
            if progress.job_id == job.pk:
                bar.n = progress.done
                bar.refresh()

        try:
            with listen(update):  # eager: the chunks run inside `action`
                task_ids = action(job)
        except selectors.JobError as error:
            bar.close()
            raise CommandError(str(error)) from None
        except Exception as error:  # eager: a chunk failed; the job is marked failed
            bar.close()
            p = selectors.job_progress(job)
            raise CommandError(
                f"job {job.pk} {p.status}: {p.error or error} ({p.done}/{p.total} stored; "
                f"fix the cause and run: generate {job.pk} --resume)"
            ) from None
        if task_ids and not services.is_eager():
            self.stderr.write(
                f"dispatched {len(task_ids)} chunk(s) of job {job.pk} to the gpu queue"
            )
        if options["no_wait"]:
            bar.close()
            self._report(selectors.job_progress(job), fail=False)
            return
        self._wait(job, options, bar)

    def _wait(self, job, options, bar=None):
        bar = bar or self._bar(job)

        def update(progress):
            bar.n = progress.done
            bar.refresh()

        try:
            progress = services.wait_for_job(
                job, timeout=options["timeout"], poll=options["poll"], on_progress=update
            )
        except services.JobTimeout as error:
            raise CommandError(
                f"{error}; it keeps running: follow it with generate {job.pk}"
            ) from None
        except KeyboardInterrupt:
            self.stderr.write(
                f"\nstopped watching; job {job.pk} keeps running (generate --cancel {job.pk} stops it)"
            )
            return
        finally:
            bar.close()
        self._report(progress)

    def _report(self, progress, fail=True):
        line = (
            f"job {progress.job_id} {progress.status}: {progress.done}/{progress.total} candidates"
        )
        if progress.status == GenerationJob.Status.FAILED and fail:
            raise CommandError(
                f"{line}\n{progress.error}\nfix the cause and run: generate {progress.job_id} --resume"
            )
        if progress.status == GenerationJob.Status.CANCELLED and fail:
            raise CommandError(
                f"{line} (cancelled; generate {progress.job_id} --resume restarts it)"
            )
        self.stdout.write(line)
