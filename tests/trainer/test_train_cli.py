"""`amyplant train`: options out of range are refused in one line naming the option, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from amyplant.cli import main


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--close-up-share", "1.5", "--close-up-share: Input should be less than or equal to 1 (got 1.5)"),
        ("--size", "200", "--size: Input should be a multiple of 32 (got 200)"),
        ("--expansion", "0", "--expansion: Input should be greater than or equal to 1 (got 0)"),
    ],
)
def test_an_option_out_of_range_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, expected: str
) -> None:
    code = main(["train", "--dataset", str(tmp_path), "--workdir", str(tmp_path / "work"), option, value])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == f"amyplant train: {expected}"
    # Refused before the run began: nothing was written.
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("option", ["--batch-size", "--block"])
def test_a_count_below_one_is_refused_by_the_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--dataset", str(tmp_path), option, "0"])
    assert exit_info.value.code == 2
    assert f"argument {option}: must be 1 or more, not 0" in capsys.readouterr().err
