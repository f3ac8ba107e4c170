"""Run logs: per-update scalars to JSONL, CSV, TensorBoard and optionally W&B; a progress bar.

Only per-update scalars reach the host, once per chunk of compiled updates: the caller hands
:meth:`MetricsLogger.log_chunk` the metrics dict of one chunk (arrays ``[U, ...]``), and every
sink receives one row per update. A resumed run opens the same files again from the update it
restarts at: JSONL and CSV rows past that update are dropped, and TensorBoard purges the events
after it, so the logs of an interrupted and resumed run read like those of a single run.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import struct
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tqdm import tqdm  # a text bar: tqdm.auto warns in notebooks without ipywidgets

from hcmrl_jax.utils.metrics import ENV_STEPS_KEY, TIME_KEY, UPDATE_KEY, metrics_to_rows

METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"


def _complete_lines(path: str) -> tuple[list[str], bool]:
    """The lines of a text file that end in a newline, and whether a last one did not.

    Rows are written whole and newline-terminated, so a last line without its newline was cut
    by a process killed mid-write: it is torn, whatever it parses as.
    """
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().split("\n")
    torn = lines[-1] != ""  # the text after the last newline
    return [line + "\n" for line in lines[:-1]], torn


def truncate_jsonl(path: str, last_update: int) -> int:
    """Drops rows whose ``update`` is past ``last_update``, and a torn last line (a process
    killed mid-write); returns how many rows remain.

    Raises:
        ValueError: a line before the last is not a JSON row (the file is damaged, not torn).
    """
    if not os.path.exists(path):
        return 0
    lines, _ = _complete_lines(path)
    kept = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):  # a torn row that happened to end at a newline
                break
            raise ValueError(f"{path}, line {number}: not a JSON row ({error})") from error
        if row[UPDATE_KEY] <= last_update:
            kept.append(line)
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(kept)
    return len(kept)


def truncate_csv(path: str, last_update: int) -> int:
    """Drops CSV rows whose ``update`` is past ``last_update``, a torn last line and rows with
    missing fields; returns how many rows remain."""
    if not os.path.exists(path):
        return 0
    lines, _ = _complete_lines(path)
    reader = csv.DictReader(lines)
    fieldnames = reader.fieldnames or []
    kept = [
        row
        for row in reader
        if None not in row and None not in row.values() and int(row[UPDATE_KEY]) <= last_update
    ]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(kept)
    return len(kept)


def rewrite_csv_from_jsonl(jsonl_path: str, csv_path: str) -> int:
    """Rewrites the CSV from the JSONL rows with the CSV's own columns (the JSONL's when the
    CSV has no header), so the two hold the same updates; returns the rows written."""
    from hcmrl_jax.utils.metrics import read_jsonl

    rows = read_jsonl(jsonl_path) if os.path.exists(jsonl_path) else []
    fieldnames: list[str] = []
    if os.path.exists(csv_path):
        lines, _ = _complete_lines(csv_path)
        fieldnames = next(csv.reader(lines), None) or []
    if not fieldnames and rows:
        fieldnames = list(rows[0])
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, extrasaction="ignore", restval="")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return len(rows)


class MetricsLogger:
    """Writes one row per update to every enabled sink.

    Args:
        run_dir: directory of the run; files go to ``metrics.jsonl``, ``metrics.csv`` and
            ``tensorboard/`` inside it.
        steps_per_update: environment steps per update (num_envs x rollout length), for the
            ``env_steps`` column and the TensorBoard step axis.
        start_update: updates already done (0 for a fresh run, the checkpoint's update count on
            resume); rows past it in existing files are dropped.
        jsonl: write ``metrics.jsonl`` (one JSON object per line; non-finite values are null).
        csv_file: write ``metrics.csv`` (its columns are fixed by the first row written).
        tensorboard: write TensorBoard events with tensorboardX (non-finite values skipped).
        wandb_project: log to this Weights & Biases project too (needs ``pip install wandb``).
        wandb_config: the run configuration shown in W&B.
        vector_names: entry names of vector metrics (e.g. the lag bins), see
            :func:`hcmrl_jax.utils.metrics.flatten_metrics`.
        time_offset: seconds of the run before this logger started (on resume, the training
            time saved with the checkpoint), so ``time_s`` counts the whole run.

    Raises:
        ImportError: ``wandb_project`` is set but ``wandb`` is not installed.
    """

    def __init__(
        self,
        run_dir: str,
        steps_per_update: int,
        start_update: int = 0,
        *,
        jsonl: bool = True,
        csv_file: bool = True,
        tensorboard: bool = True,
        wandb_project: str | None = None,
        wandb_config: Mapping[str, Any] | None = None,
        vector_names: Mapping[str, Sequence[str]] | None = None,
        time_offset: float = 0.0,
    ):
        if steps_per_update < 1:
            raise ValueError(f"steps_per_update must be >= 1, got {steps_per_update}")
        if start_update < 0:
            raise ValueError(f"start_update must be >= 0, got {start_update}")
        os.makedirs(run_dir, exist_ok=True)
        self.run_dir = run_dir
        self.steps_per_update = int(steps_per_update)
        self.vector_names = dict(vector_names or {})
        self._start_time = time.perf_counter() - float(time_offset)
        self._jsonl_path = os.path.join(run_dir, METRICS_JSONL) if jsonl else None
        self._csv_path = os.path.join(run_dir, METRICS_CSV) if csv_file else None
        self._csv_fields: list[str] | None = None
        if self._jsonl_path is not None:
            if start_update > 0:
                truncate_jsonl(self._jsonl_path, start_update)
            else:
                open(self._jsonl_path, "w", encoding="utf-8").close()
        if self._csv_path is not None:
            if start_update > 0 and os.path.exists(self._csv_path):
                if self._jsonl_path is not None:
                    # The JSONL is the record: the CSV gets exactly its rows back.
                    rewrite_csv_from_jsonl(self._jsonl_path, self._csv_path)
                else:
                    truncate_csv(self._csv_path, start_update)
                with open(self._csv_path, newline="", encoding="utf-8") as handle:
                    self._csv_fields = next(csv.reader(handle), None)
            elif os.path.exists(self._csv_path):
                os.remove(self._csv_path)
        self._tb_writer = None
        self._tb_dir = os.path.join(run_dir, TENSORBOARD_DIR) if tensorboard else None
        if tensorboard:
            from tensorboardX import SummaryWriter

            # purge_step hides events a previous attempt wrote past the resume point.
            self._tb_writer = SummaryWriter(
                self._tb_dir,
                # The first step this writer logs: TensorBoard hides earlier attempts' events
                # from it on, and keeps the checkpointed update's own point.
                purge_step=(start_update + 1) * self.steps_per_update if start_update > 0 else None,
                # Event files are named by the second they start in; a resume within the same
                # second would otherwise reopen (and empty) the previous attempt's file.
                filename_suffix=f".{time.time_ns()}",
            )
        self._wandb_run = None
        if wandb_project is not None:
            try:
                import wandb
            except ImportError as error:
                raise ImportError(
                    "logging to W&B needs the `wandb` package: pip install 'hcmrl-jax[wandb]' "
                    "(or drop the W&B project option)"
                ) from error
            self._wandb_run = wandb.init(
                project=wandb_project,
                dir=run_dir,
                config=dict(wandb_config or {}),
                resume="allow",
                id=os.path.basename(os.path.abspath(run_dir)),
            )

    @property
    def jsonl_path(self) -> str | None:
        return self._jsonl_path

    @property
    def csv_path(self) -> str | None:
        return self._csv_path

    @property
    def tensorboard_dir(self) -> str | None:
        return self._tb_dir

    def log_chunk(self, metrics: Mapping[str, Any], first_update: int) -> list[dict[str, Any]]:
        """Logs the metrics of one chunk of updates.

        Args:
            metrics: name -> host array ``[U, ...]`` (already fetched from the device).
            first_update: updates done before this chunk.

        Returns:
            The ``U`` rows written (``update``, ``env_steps``, ``time_s`` and the metrics).
        """
        rows = metrics_to_rows(metrics, first_update, self.steps_per_update, self.vector_names)
        elapsed = time.perf_counter() - self._start_time
        for row in rows:
            row[TIME_KEY] = round(elapsed, 3)
        self.log_rows(rows)
        return rows

    def log_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Writes already-flattened rows (each with ``update`` and ``env_steps``)."""
        if not rows:
            return
        if self._jsonl_path is not None:
            with open(self._jsonl_path, "a", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, allow_nan=False) + "\n")
        if self._csv_path is not None:
            self._write_csv(rows)
        if self._tb_writer is not None:
            for row in rows:
                for name, value in row.items():
                    if name in (UPDATE_KEY, ENV_STEPS_KEY) or value is None:
                        continue
                    self._tb_writer.add_scalar(name, value, global_step=row[ENV_STEPS_KEY])
            self._tb_writer.flush()
        if self._wandb_run is not None:
            for row in rows:
                finite = {k: v for k, v in row.items() if v is not None}
                self._wandb_run.log(finite, step=row[ENV_STEPS_KEY])

    def _write_csv(self, rows: Sequence[Mapping[str, Any]]) -> None:
        new_file = self._csv_fields is None
        if new_file:
            self._csv_fields = list(rows[0])
        with open(self._csv_path, "a", newline="", encoding="utf-8") as handle:
            # Columns first seen after the header was written are left out of the CSV (the JSONL
            # keeps them); missing ones are written empty.
            writer = csv.DictWriter(
                handle, fieldnames=self._csv_fields, extrasaction="ignore", restval=""
            )
            if new_file:
                writer.writeheader()
            writer.writerows(
                {k: ("" if v is None else v) for k, v in row.items() if k in self._csv_fields}
                for row in rows
            )

    def close(self) -> None:
        """Flushes and closes every sink."""
        if self._tb_writer is not None:
            self._tb_writer.close()
            self._tb_writer = None
        if self._wandb_run is not None:
            self._wandb_run.finish()
            self._wandb_run = None

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class TrainingProgress:
    """A tqdm bar over environment steps, with steps/s and the latest episode return.

    Args:
        total_env_steps: environment steps of the whole run.
        initial_env_steps: steps already done (resume).
        return_key: row column shown as the return.
        disable: hide the bar.
        file: stream the bar writes to (stderr when None).
    """

    def __init__(
        self,
        total_env_steps: int,
        initial_env_steps: int = 0,
        return_key: str = "return",
        disable: bool = False,
        file: Any = None,
    ):
        self.return_key = return_key
        self.env_steps = int(initial_env_steps)
        self.postfix: dict[str, str] = {}
        self._latest_return: float | None = None
        self._bar = tqdm(
            total=total_env_steps,
            initial=initial_env_steps,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            disable=disable,
            desc="train",
            file=file,
            # One rate on the bar: the last chunk's steps/s in the postfix (tqdm's own rate, a
            # smoothed mean that counts the compile, would be a second, different number).
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
            "[{elapsed}<{remaining}{postfix}]",
        )
        self._last_time = time.perf_counter()

    def update(self, rows: Sequence[Mapping[str, Any]]) -> float:
        """Advances to the last row's ``env_steps``; returns the chunk's steps per second."""
        if not rows:
            return 0.0
        now = time.perf_counter()
        done = int(rows[-1][ENV_STEPS_KEY]) - self.env_steps
        steps_per_second = done / max(now - self._last_time, 1e-9)
        self._last_time = now
        self.env_steps += done
        # A chunk in which no episode finished keeps showing the last known return.
        self._latest_return = next(
            (
                row[self.return_key]
                for row in reversed(rows)
                if row.get(self.return_key) is not None
            ),
            self._latest_return,
        )
        self.postfix = {"steps/s": f"{steps_per_second:,.0f}"}
        if self._latest_return is not None:
            self.postfix["return"] = f"{self._latest_return:.3g}"
        self._bar.set_postfix(self.postfix, refresh=False)
        self._bar.update(done)
        return steps_per_second

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> TrainingProgress:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def read_tensorboard_scalars(logdir: str) -> dict[str, list[tuple[int, float]]]:
    """Reads every scalar from the TensorBoard event files in ``logdir`` (no TensorBoard needed).

    Read like TensorBoard reads a resumed run: a ``SessionLog.START`` event written with a
    purge step (see :class:`MetricsLogger`) drops the points read so far at or past that step.
    A record cut short at the end of a file (a process killed mid-write) ends that file; a
    complete record whose checksum fails raises.

    Returns:
        tag -> ``[(step, value), ...]`` in file order (files sorted by name).

    Raises:
        ValueError: a complete record fails its checksum.
    """
    from tensorboardX.proto import event_pb2
    from tensorboardX.record_writer import masked_crc32c

    START = event_pb2.SessionLog.START

    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        with open(path, "rb") as handle:
            data = handle.read()
        offset = 0
        while offset < len(data):
            if offset + 12 > len(data):
                break  # a torn header at the end
            header = data[offset : offset + 8]
            (length,) = struct.unpack("Q", header)
            (header_crc,) = struct.unpack("I", data[offset + 8 : offset + 12])
            if header_crc != masked_crc32c(header):
                raise ValueError(f"corrupt TensorBoard record at byte {offset} of {path}")
            if offset + 16 + length > len(data):
                break  # a torn payload at the end
            payload = data[offset + 12 : offset + 12 + length]
            (payload_crc,) = struct.unpack("I", data[offset + 12 + length : offset + 16 + length])
            if payload_crc != masked_crc32c(payload):
                raise ValueError(f"corrupt TensorBoard record at byte {offset} of {path}")
            offset += 16 + length
            event = event_pb2.Event.FromString(payload)
            if event.HasField("session_log") and event.session_log.status == START:
                for tag, points in scalars.items():
                    scalars[tag] = [(step, v) for step, v in points if step < event.step]
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars
