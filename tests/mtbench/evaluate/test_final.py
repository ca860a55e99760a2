"""The final-metrics rule: final step, main generator, own protocol, latest row wins."""

from __future__ import annotations

import pandas as pd

from mtbench.evaluate import final


def rows(*specs: tuple) -> pd.DataFrame:
    """(step, generator, metric, value, n_samples) tuples as evals rows of one run."""
    cols = ["step", "generator", "metric", "value", "n_samples"]
    df = pd.DataFrame([dict(zip(cols, s)) for s in specs])
    return df.assign(run_id="r", feature_extractor="domain", extractor_hash="h", n_real=600)


def test_post_hoc_rows_of_the_final_checkpoint_count_and_the_latest_wins():
    ev = rows(
        (10, "ema", "fid", 5.0, 90),
        (20, "ema", "fid", 3.0, 90),
        (20, "raw", "fid", 1.0, 90),  # the raw generator beside an EMA one: not the main one
        (20, "last", "kid", 0.2, 90),  # mtbench eval of last.pt adds a metric
        (20, "last", "fid", 2.5, 90),  # and re-evaluates one: the latest wins
        (20, "last", "prc", 0.9, 60),  # mtbench eval --n 60: another protocol, never ranked
        (10, "best", "isc", 7.0, 90),  # best.pt of an earlier step: not the final weights
    )
    used = final.final_rows(ev, 20, 90)
    assert final.final_metrics(ev, 20, 90) == {"fid": 2.5, "kid": 0.2}
    assert final.used_from(used) == "last"
    assert final.final_metrics(ev, 20, 90) != final.final_metrics(ev, 10, 90)


def test_training_only_keeps_what_training_measured():
    ev = rows((20, "ema", "fid", 3.0, 90), (20, "last", "kid", 0.2, 90))
    kept = final.final_rows(ev, 20, None, training_only=True)
    assert kept["metric"].tolist() == ["fid"]
    assert final.used_from(final.final_rows(ev, 20, 90)) == "ema+last (kid)"


def test_a_run_without_ema_is_scored_by_its_raw_generator():
    ev = rows((20, "raw", "fid", 3.0, 90))
    assert final.final_metrics(ev, 20, 90) == {"fid": 3.0}


def test_rows_written_before_n_samples_was_recorded_count_if_trainings():
    ev = rows((20, "ema", "fid", 3.0, None), (20, "last", "kid", 0.2, None))
    assert final.final_metrics(ev, 20, 90) == {"fid": 3.0}


def test_protocol_names_data_extractor_counts_split_and_evaluator():
    ev = rows((20, "ema", "accuracy", 0.5, 90), (20, "ema", "fid", 3.0, 90))
    ev = ev.assign(n_fake=[90, 90], real_split="eval")
    ev.loc[0, "n_real"] = 0  # accuracy reads no real images: fid's counts are the protocol
    p = final.protocol(final.final_rows(ev, 20, 90), {"type": "shapes", "size": 16})
    assert p == {
        "data": '{"size": 16, "type": "shapes"}',
        "feature_extractor": "domain",
        "extractor_hash": "h",
        "n_real": 600,
        "n_fake": 90,
        "real_split": "eval",
        "extractor_resize": None,  # rows written before these columns were recorded
        "torch_fidelity": None,
        "evaluator_hash": "h",
    }
