"""The scripts under tools/ that regenerate tests/data, on sources written here (the real inputs, a
torchvision wheel, do not ship with the project)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import torchvision_metadata

SOURCE = '''
_COMMON_META = {"min_size": (1, 1)}


class Net1_0_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(
        url="https://example/net.pth",
        transforms=partial(ImageClassification, crop_size=224),
        meta={
            **_COMMON_META,
            "num_params": 4383312,
            "_metrics": {"ImageNet-1K": {"acc@1": 73.456, "acc@5": 91.510}},
            "_ops": 0.314,
            "_docs": """These weights reproduce closely the results of the paper.""",
        },
    )
    DEFAULT = IMAGENET1K_V1
'''


def test_the_metadata_of_a_weights_enum_is_read_without_running_it() -> None:
    meta = torchvision_metadata.weights_meta(SOURCE, "Net1_0_Weights")
    assert meta["num_params"] == 4383312 and meta["_ops"] == 0.314
    assert meta["_metrics"] == {"ImageNet-1K": {"acc@1": 73.456, "acc@5": 91.510}}


def test_rows_of_other_sources_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text('[{"model": "a", "source": "paper"}, {"model": "b", "source": "torchvision 9.9 weights metadata"}]')
    rows = torchvision_metadata.merged(path, [{"model": "c", "source": "torchvision 9.9 weights metadata (X)"}], "9.9")
    assert [row["model"] for row in rows] == ["a", "c"]


def test_peer_counts_table_runs_without_torch_and_agrees() -> None:
    import peer_counts

    text = peer_counts.table()
    rows = [line for line in text.splitlines() if line.startswith("| mobilenet_v1 |")]
    assert len(rows) == 16
    assert "| mobilenet_v1 | alpha=1.0, resolution=224 | 568,740,352 | 589,012,456 | " in text  # paper; ptflops
    assert not any("**" in line for line in text.splitlines() if line.startswith("|"))  # all agree
    assert "245 of 245 numbers equal" in text
    # each probe is a spec the tests read back as written
    assert peer_counts.probe_spec("relu").startswith("name: probe_relu\ninput: {channels: 8, size: [8, 12]}")
