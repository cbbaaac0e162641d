"""The report's inputs: the tidy result CSVs of a results folder, the paper's published numbers
(``repro/data/paper_numbers.csv``), the learning-curve and per-image rows, and the data folders of the runs behind the
rows. Only the standard library and pandas (the report runs without torch).
"""
from __future__ import annotations

import csv
import glob
import json
import os

import pandas as pd

from tasks.files import (
    OPTIONAL_COLUMNS,
    PER_IMAGE_COLUMNS,
    RESULT_COLUMNS,
    atomic_write_bytes,
    check_csv,
    read_csv_strict,
)

BASE_COLUMNS = [c for c in RESULT_COLUMNS if c not in OPTIONAL_COLUMNS]  # what every result CSV has


PAPER_CSV = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "repro", "data",
                         "paper_numbers.csv")


def read_frame(path: str, columns=None, required=()) -> pd.DataFrame:
    """A CSV as a frame of strings, read strictly (tasks.files.read_csv_strict): any damage, a foreign header (one
    outside `columns`, or without `required`) or an empty file is one ValueError naming the file, never a pandas
    message without it or an AttributeError later."""
    rows = read_csv_strict(path, columns, required, after="no table was written")
    with open(path, newline="") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise ValueError(f"{path} is empty (not even a header line); no table was written: remove it, or run again "
                         f"the task that writes it")
    return pd.DataFrame(rows, columns=header, dtype=str)


def load_results(results_dir: str) -> pd.DataFrame:
    """Every tidy result CSV directly in results_dir (other CSVs are skipped), as one frame of strings
    with value/ci_low/ci_high numeric; optional columns missing from old files are filled with ''."""
    frames = []
    for f in sorted(glob.glob(os.path.join(results_dir, "*.csv"))):
        if os.path.basename(f) == "inpainting_curve.csv":  # a figure's points (load_curves), never a table's
            continue
        df = read_frame(f)  # strings: commit hashes stay as written
        if {"experiment", "method", "setting", "metric", "value", "profile"} <= set(df.columns):
            frames.append(df)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=BASE_COLUMNS)
    for col in BASE_COLUMNS + OPTIONAL_COLUMNS:
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].fillna("").astype(str)
    for col in ("value", "ci_low", "ci_high"):
        df[col] = pd.to_numeric(df[col].replace("", "nan"), errors="coerce")
    return df


def paper_numbers(path: str = PAPER_CSV) -> pd.DataFrame:
    df = pd.read_csv(path, dtype={"note": str}, keep_default_na=False)
    df["value"] = pd.to_numeric(df["value"])
    return df


def load_curves(folders: list[str]) -> pd.DataFrame:
    """The learning-curve rows (<folder>/inpainting_curve.csv, tasks.inpainting --curve-every) of the folders, as
    one frame of strings with a numeric value; empty where there are none."""
    files = [f for d in folders if os.path.exists(f := os.path.join(d, "inpainting_curve.csv"))]
    for f in files:
        check_csv(f)
    if not files:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    df = pd.concat([read_frame(f, RESULT_COLUMNS, BASE_COLUMNS) for f in files], ignore_index=True)
    df["value"] = pd.to_numeric(df.value, errors="coerce")
    return df.drop_duplicates(subset=["method", "setting", "seed", "profile", "run", "iterations"])


def load_per_image(results_dir: str) -> pd.DataFrame | None:
    """<results>/per_image/*.csv (tasks.common.write_per_image) as one frame, or None where there is none."""
    files = sorted(glob.glob(os.path.join(results_dir, "per_image", "*.csv")))
    if not files:
        return None
    required = [c for c in PER_IMAGE_COLUMNS if c != "run"]  # files from before the run column lack it
    df = pd.concat([read_frame(f, PER_IMAGE_COLUMNS, required) for f in files], ignore_index=True)
    df["value"] = pd.to_numeric(df.value, errors="coerce")
    return df


def data_folders(runs_dir: str | None) -> dict[str, str]:
    """Run folder name → name of the data folder it learned from (its config's data_root), for the runs under
    `runs_dir` that read a user's folder; {} when there is none. Folder datasets (images, imagefolder) are named
    by their loader in the result rows, so this is what says which images they were."""
    out = {}
    if not runs_dir or not os.path.isdir(runs_dir):
        return out
    for name in sorted(os.listdir(runs_dir)):
        try:
            with open(os.path.join(runs_dir, name, "config.json")) as f:
                root = json.load(f).get("data_root")
        except (OSError, ValueError):
            continue
        if root:
            out[name] = os.path.basename(os.path.normpath(root))
    return out


DATA_FOLDERS = "data_folders.json"  # <results>/data_folders.json: run folder → data folder, kept with the results


def known_data_folders(results_dir: str, found: dict[str, str]) -> dict[str, str]:
    """The data folders of the runs behind the results: those read from the run folders now (``data_folders``),
    over those recorded in <results>/data_folders.json, which is updated with any new ones. So the provenance
    keeps naming the data after the run folders are gone (they are not committed)."""
    path = os.path.join(results_dir, DATA_FOLDERS)
    try:
        with open(path) as f:
            known = json.load(f)
    except (OSError, ValueError):
        known = {}
    merged = {**known, **found}
    if merged != known:
        atomic_write_bytes(path, (json.dumps(merged, indent=1, sort_keys=True) + "\n").encode())
    return merged

