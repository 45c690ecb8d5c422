"""Fuzzing the config loader: ``Config.from_dict``, ``load_toml`` and ``Config.override`` either
build a valid config (which then survives a round trip through TOML) or raise ConfigError/SpecError
with a one-line message; never another exception."""

import os
import tempfile
import tomllib
from dataclasses import fields

from hypothesis import given, settings
from hypothesis import strategies as st

from infogan.config import _SECTIONS, Config, ConfigError, load_toml
from infogan.latent import SpecError

KEYS = {sec: [f.name for f in fields(typ)] for sec, typ in _SECTIONS.items()}
JUNK = st.text(max_size=6)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.just(10**400), st.floats(), st.text(max_size=12),
    st.sampled_from(["mnist", "fashion-mnist", "cpu", "auto", "cuda:0", "uniform", "normal", "cat10,noise4"]),
)
values = st.recursive(scalars, lambda ch: st.lists(ch, max_size=3) | st.dictionaries(JUNK, ch, max_size=3), max_leaves=8)
# Numbers near the valid ranges, so that many drawn configs are valid.
plausible = st.one_of(st.integers(-3, 300), st.floats(-1, 2), st.booleans(), st.sampled_from(["cpu", "auto", "mnist", ""]))


def section(sec):
    keys = st.sampled_from(KEYS[sec]) | JUNK
    return st.dictionaries(keys, plausible | values, max_size=4)


code = st.dictionaries(
    st.sampled_from(["kind", "k", "lo", "hi", "lam", "lambda", "name"]) | JUNK,
    st.sampled_from(["categorical", "uniform", "gaussian", "beta"]) | plausible | values,
    max_size=5,
)
latent = st.one_of(
    st.fixed_dictionaries({}, optional={"noise": plausible | values, "noise_prior": st.sampled_from(["uniform", "normal"]) | values,
                                        "codes": st.lists(code, max_size=4) | values}),
    st.text(max_size=20), values,
)
config_dicts = st.one_of(
    st.fixed_dictionaries({}, optional={
        "preset": st.sampled_from(["mnist", "fashion-mnist", "nope"]) | values,
        "latent": latent,
        **{sec: section(sec) | values for sec in _SECTIONS},
        "junk": values,
    }),
    values,
)


def accepted_or_clean_error(build):
    """Run ``build``; a valid Config must round-trip through TOML, an error must be ours and one line."""
    try:
        cfg = build()
    except (ConfigError, SpecError) as e:
        msg = str(e)
        assert msg and "\n" not in msg and "\r" not in msg, repr(msg)
        return None
    assert isinstance(cfg, Config)
    assert Config.from_dict(tomllib.loads(cfg.to_toml())) == cfg
    assert Config.from_dict(cfg.to_dict()) == cfg
    return cfg


@settings(max_examples=400, deadline=None)
@given(config_dicts)
def test_from_dict_fuzz(d):
    accepted_or_clean_error(lambda: Config.from_dict(d))


KEY_TEXT = st.sampled_from([f"{s}.{k}" for s, ks in KEYS.items() for k in ks] + ["latent", "preset", "train", "x.y"]) | JUNK
VALUE_TEXT = st.sampled_from(["1", "-1", "0", "1.5", "nan", "inf", "-inf", "true", "yes", '"cpu"', "[1, 2]", "{a = 1}",
                              "1979-05-27", "cat10,unif2,noise62", "cat1", "9" * 400, "", '"unterminated',
                              "{noise = 3, codes = [{kind = 'categorical', k = 4}]}"]) | st.text(max_size=20)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.tuples(KEY_TEXT, VALUE_TEXT).map(lambda kv: f"{kv[0]}={kv[1]}"), st.text(max_size=20)),
                max_size=3))
def test_override_fuzz(assignments):
    accepted_or_clean_error(lambda: Config().override(assignments))


TOML_LINE = st.one_of(
    st.sampled_from(["[model]", "[optim]", "[data]", "[train]", "[latent]", "[[latent.codes]]", "[trian]", "[train"]),
    st.tuples(st.sampled_from([k for ks in KEYS.values() for k in ks] + ["preset", "noise", "kind", "k", "lo", "hi", "lam",
                                                                          "name", "noise_prior", "codes"]) | JUNK,
              VALUE_TEXT).map(lambda kv: f"{kv[0]} = {kv[1]}"),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(TOML_LINE, max_size=10) | st.binary(max_size=40).map(lambda b: [b.decode("latin-1")]))
def test_load_toml_fuzz(lines):
    fd, path = tempfile.mkstemp(suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write("\n".join(lines))
        accepted_or_clean_error(lambda: load_toml(path))
    finally:
        os.unlink(path)


def test_some_fuzzed_shapes_are_valid():
    """The strategies reach valid configs too (the properties are not only about errors)."""
    ok = accepted_or_clean_error(lambda: Config.from_dict(
        {"preset": "fashion-mnist", "train": {"steps": 3}, "data": {"data_dir": 'a"\\\n\x7fé'},
         "latent": {"noise": 4, "codes": [{"kind": "categorical", "k": 3, "name": "digit"}]}}))
    assert ok is not None and ok.data.data_dir == 'a"\\\n\x7fé' and ok.latent.codes[0].name == "digit"
