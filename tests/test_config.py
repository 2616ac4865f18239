from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softmax_exp import config, yamlio
from softmax_exp.config import TrainConfig, load_train_config, parse_assignment
from softmax_exp.errors import ConfigError

yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_are_the_chapter():
    cfg = load_train_config()
    assert (cfg.lr, cfg.batch_size, cfg.epochs, cfg.init_sigma) == (0.1, 256, 10, 0.01)
    assert cfg.ctx == "cpu" and cfg.val_fraction == 0 and cfg.weight_decay == 0


def test_default_yaml_file_equals_defaults():
    assert load_train_config(config_path("default.yaml")) == TrainConfig()


def config_path(name):
    from pathlib import Path

    return Path(__file__).parent.parent / "configs" / name


def test_file_then_overrides(tmp_path):
    path = write(tmp_path, "lr: 0.3\nbatch_size: 128\n")
    cfg = load_train_config(path, {"batch_size": 64, "epochs": None})
    assert (cfg.lr, cfg.batch_size, cfg.epochs) == (0.3, 64, 10)


def test_unknown_key_names_file_line_and_suggestion(tmp_path):
    path = write(tmp_path, "lr: 0.3\nbatchsize: 128\n")
    with pytest.raises(
        ConfigError,
        match=r"c.yaml:2: unknown setting 'batchsize'; did you mean "
        r"'batch_size'\?",
    ):
        load_train_config(path)


def test_out_of_range_names_key_and_line(tmp_path):
    path = write(tmp_path, "epochs: 3\n\nlr: -0.5\n")
    with pytest.raises(
        ConfigError,
        match=r"c.yaml:3: 'lr' is out of range: .*greater than 0 "
        r"\(got -0.5\)",
    ):
        load_train_config(path)


def test_malformed_yaml_gives_line(tmp_path):
    path = write(tmp_path, "lr: 0.1\nepochs: [3\n")
    with pytest.raises(ConfigError, match=r"c.yaml:\d+: malformed YAML"):
        load_train_config(path)


def test_duplicate_key_is_refused(tmp_path):
    path = write(tmp_path, "lr: 0.1\nlr: 0.2\n")
    with pytest.raises(ConfigError, match=r"c.yaml:2: 'lr' is set twice \(first on line 1\)"):
        load_train_config(path)


def test_not_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_train_config(write(tmp_path, "- lr\n- 0.1\n"))


def test_empty_file_means_defaults(tmp_path):
    assert load_train_config(write(tmp_path, "# nothing\n")) == TrainConfig()


def test_wrong_type_is_not_coerced(tmp_path):
    with pytest.raises(ConfigError, match="'batch_size' has the wrong type"):
        load_train_config(write(tmp_path, "batch_size: '256'\n"))
    with pytest.raises(ConfigError, match="'epochs' has the wrong type"):
        load_train_config(write(tmp_path, "epochs: 2.5\n"))


def test_ints_and_exponents_are_fine_for_floats(tmp_path):
    cfg = load_train_config(write(tmp_path, "lr: 1\nweight_decay: 1e-4\n"))
    assert cfg.lr == 1.0 and cfg.weight_decay == 1e-4


def test_patience_needs_validation():
    with pytest.raises(ConfigError, match="patience needs a validation split"):
        load_train_config(None, {"patience": 2})
    assert load_train_config(None, {"patience": 2, "val_fraction": 0.1}).patience == 2


def test_override_labels_name_the_flag():
    with pytest.raises(ConfigError, match=r"^--batch-size: 'batch_size'"):
        load_train_config(None, {"batch_size": 0}, {"batch_size": "--batch-size"})


@pytest.mark.parametrize("ctx", ["cpu", "gpu", "gpu:0", "gpu:12"])
def test_ctx_accepts(ctx):
    assert load_train_config(None, {"ctx": ctx}).ctx == ctx


@pytest.mark.parametrize("ctx", ["GPU", "gpu:", "cuda", "gpu:-1", "cpu:0"])
def test_ctx_rejects(ctx):
    with pytest.raises(ConfigError, match="'ctx' is invalid"):
        load_train_config(None, {"ctx": ctx})


def test_config_id_is_stable_and_sensitive():
    a, b = TrainConfig(), TrainConfig(lr=0.1)
    assert config.config_id(a) == config.config_id(b)
    assert config.config_id(a) != config.config_id(TrainConfig(lr=0.2))
    assert config.config_id(a) == "3acd876dd2", "ids name trial directories: never change them"


def test_yaml_round_trip(tmp_path):
    cfg = TrainConfig(lr=0.25, train_subset=100, subset_seed=3)
    assert load_train_config(write(tmp_path, config.to_yaml(cfg))) == cfg


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_lr_is_accepted_iff_positive_and_finite(value):
    if value > 0 and math.isfinite(value):
        assert load_train_config(None, {"lr": value}).lr == value
    else:
        with pytest.raises(ConfigError, match="'lr'"):
            load_train_config(None, {"lr": value})


@given(st.integers(-1000, 1000))
def test_batch_size_and_epochs_bounds(value):
    for key in ("batch_size", "epochs"):
        if value >= 1:
            assert getattr(load_train_config(None, {key: value}), key) == value
        else:
            with pytest.raises(ConfigError, match=f"'{key}' is out of range"):
                load_train_config(None, {key: value})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from([*config.SETTINGS, "bogus", "LR", ""]), yaml_scalars, max_size=6
    )
)
def test_any_yaml_document_gives_a_config_or_a_config_error(tmp_path_factory, values):
    """Never a traceback: every document is either valid or a one-line ConfigError."""
    path = tmp_path_factory.mktemp("h") / "c.yaml"
    path.write_text(yaml.safe_dump(values))
    try:
        cfg = load_train_config(path)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:
        assert isinstance(cfg, TrainConfig)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_any_text_file_gives_a_config_or_a_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("h") / "c.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_train_config(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)


@given(st.sampled_from(config.SETTINGS), st.text(max_size=20))
def test_assignment_parser_never_crashes(key, raw):
    try:
        name, value = parse_assignment(f"{key}={raw}")
        load_train_config(None, {name: value})
    except ConfigError as exc:
        assert "\n" not in str(exc)


def test_assignment_values_are_yaml():
    assert parse_assignment("lr=0.5") == ("lr", 0.5)
    assert parse_assignment("train-subset=1000") == ("train_subset", 1000)
    assert parse_assignment("subset_seed=null") == ("subset_seed", None)
    assert parse_assignment("ctx=gpu:1") == ("ctx", "gpu:1")
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_assignment("lr")


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "lr_schedule: cosin\n",
            r"c.yaml:1: 'lr_schedule' is 'cosin', not a choice; did you mean "
            r"'cosine'\? use one of constant, step, cosine$",
        ),
        ("epochs: 5\nwarmup_epochs: 5\n", r"c.yaml:2: warmup_epochs \(5\) must be below epochs"),
        (
            "lr: 0.1\nlr_schedule: cosine\nlr_min: 0.2\n",
            r"c.yaml:3: lr_min \(0.2\) must be below lr",
        ),
        ("lr_step_factor: 0\n", r"c.yaml:1: 'lr_step_factor' is out of range: .*greater than 0"),
        ("lr_step_epochs: 0\n", r"c.yaml:1: 'lr_step_epochs' is out of range"),
    ],
)
def test_a_bad_schedule_is_one_line_naming_file_and_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_train_config(write(tmp_path, text))


def test_settings_added_later_enter_the_id_only_when_set():
    """Sweeps written before the schedule settings existed keep their trial ids (the
    default's id is checked above), and a schedule makes another trial."""
    ids = {
        config.config_id(TrainConfig(**change))
        for change in (
            {},
            {"lr_schedule": "cosine"},
            {"lr_schedule": "step"},
            {"warmup_epochs": 1},
            {"lr_step_factor": 0.5},
            {"lr_step_epochs": 3},
            {"lr_min": 0.01},
        )
    }
    assert len(ids) == 7


def test_a_malformed_yaml_line_is_never_past_the_end_of_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("lr: 0.1\nepochs: [1,\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2: malformed YAML"):
        load_train_config(path)


def test_a_sweep_file_given_as_a_train_config_says_so(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("base: {epochs: 2}\ngrid:\n  lr: [0.1, 0.3]\n")
    with pytest.raises(
        ConfigError,
        match=r"grid.yaml:1: 'base' is not a setting: this is a sweep file \(it has a 'grid'",
    ):
        load_train_config(path)


def scalars(text):
    return (
        st.none()
        | st.booleans()
        | st.integers(-(10**12), 10**12)
        | st.floats(allow_nan=False)
        | text
    )


def settings_like(text):
    """Mappings shaped like config.yaml and best.yaml: setting names to scalars."""
    return st.dictionaries(
        st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True),
        scalars(text) | st.lists(scalars(text), max_size=3),
        max_size=8,
    )


@given(settings_like(st.text(max_size=12)))
def test_yaml_dump_reads_back_as_it_was(data):
    """yamlio.dump uses libyaml's emitter for speed: any text it writes reads back."""
    assert yaml.safe_load(yamlio.dump(data)) == (data or {})


@given(settings_like(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)))
def test_yaml_dump_writes_the_text_pyyaml_safe_dump_writes(data):
    """For what configs hold (numbers, names, printable text) the file is the very text
    the pure-Python emitter wrote before: config.yaml files are unchanged."""
    assert yamlio.dump(data) == yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
