import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from infogan.latent import Categorical, Gaussian, LatentSpec, SpecError, Uniform


def test_mnist_spec_sizes():
    s = LatentSpec.parse("cat10,unif2,noise62")
    assert s.input_dim == 74
    assert s.q_dim == 10 + 2 * 2
    assert [c.name for c in s.codes] == ["c1", "c2", "c3"]
    assert s.entropies()["c1"] == pytest.approx(math.log(10))
    assert s.entropies()["c2"] == pytest.approx(math.log(2))
    assert [sl.stop - sl.start for sl in s.q_slices()] == [10, 2, 2]


@pytest.mark.parametrize("text,dim", [("4xcat10,unif4,noise124", 168), ("10xcat10,noise128", 228),
                                      ("unif5,noise128", 133), ("3xcat20,unif1,noise128", 189)])
def test_paper_input_widths(text, dim):
    assert LatentSpec.parse(text).input_dim == dim


@pytest.mark.parametrize("text", ["cat10,unif2,noise62", "3xcat20,unif1@10.0,noise128", "unif1(-2:2)@0.1,gauss3,noise5:normal",
                                  "cat2@0.5,cat3,noise0", "gauss1"])
def test_text_round_trip(text):
    s = LatentSpec.parse(text)
    assert LatentSpec.parse(s.to_text()) == s
    assert LatentSpec.from_dict(s.to_dict()) == s


@pytest.mark.parametrize("bad", ["", "cat1", "cat", "catx", "unif2(1:-1)", "noise-3", "cat10,noise5,noise6", "foo3",
                                 "unif2@-1", "cat10@nan", "2xunif2", "cat10(0:1)", "0xcat10", "noise0", "gauss2(0:1)",
                                 "cat10,,noise3", "unif0"])
def test_bad_specs_rejected_naming_the_part(bad):
    with pytest.raises(SpecError) as e:
        LatentSpec.parse(bad)
    assert "\n" not in str(e.value)


def test_dict_errors():
    with pytest.raises(SpecError, match="unknown kind"):
        LatentSpec.from_dict({"noise": 3, "codes": [{"kind": "beta"}]})
    with pytest.raises(SpecError, match="unknown key"):
        LatentSpec.from_dict({"noise": 3, "codes": [{"kind": "categorical", "k": 3, "bins": 2}]})
    with pytest.raises(SpecError, match="unique"):
        LatentSpec(3, (Categorical(3, name="a"), Uniform(name="a")))


def test_sampling_respects_priors():
    s = LatentSpec.parse("cat7,unif1(-2:3),unif1,gauss1,noise16")
    g = torch.Generator().manual_seed(0)
    lat = s.sample(4096, g)
    cat, u1, u2, gs = lat.codes
    assert cat.dtype == torch.long and cat.min() >= 0 and cat.max() <= 6 and len(cat.unique()) == 7
    assert u1.min() >= -2 and u1.max() <= 3 and u1.min() < -1.9 and u1.max() > 2.9
    assert u2.min() >= -1 and u2.max() <= 1
    assert gs.abs().max() > 2  # a real normal, not squashed into the uniform range
    assert lat.noise.min() >= -1 and lat.noise.max() <= 1  # uniform noise, authors' code
    x = s.to_input(lat)
    assert x.shape == (4096, s.input_dim)
    assert torch.equal(x[:, 16:23].argmax(1), cat) and torch.all(x[:, 16:23].sum(1) == 1)


def test_sampling_is_deterministic_given_generator():
    s = LatentSpec.parse("cat10,unif2,noise62")
    a = s.to_input(s.sample(8, torch.Generator().manual_seed(3)))
    b = s.to_input(s.sample(8, torch.Generator().manual_seed(3)))
    c = s.to_input(s.sample(8, torch.Generator().manual_seed(4)))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_normal_noise_prior():
    s = LatentSpec.parse("cat3,noise64:normal")
    n = s.sample(2048, torch.Generator().manual_seed(0)).noise
    assert n.abs().max() > 1.5 and abs(float(n.std()) - 1) < 0.05


def test_traversal_layout():
    s = LatentSpec.parse("cat10,unif2,noise62")
    lat, rows, cols = s.traversal("c1", n=5, generator=torch.Generator().manual_seed(0))
    assert (rows, cols) == (10, 5)
    cats = lat.codes[0].view(rows, cols)
    assert torch.equal(cats, torch.arange(10)[:, None].expand(10, 5))
    noise = lat.noise.view(rows, cols, -1)
    assert torch.equal(noise[0], noise[9])  # same noise down a column
    lat, rows, cols = s.traversal("c2", values=[-2, 0, 2], generator=torch.Generator().manual_seed(0))
    assert (rows, cols) == (10, 3)
    assert torch.equal(lat.codes[1].view(rows, cols)[4], torch.tensor([-2.0, 0.0, 2.0]))
    assert torch.all(lat.codes[2] == 0)  # other continuous code at its centre
    assert torch.equal(lat.codes[0].view(rows, cols)[:, 0], torch.arange(10))
    with pytest.raises(SpecError, match="no code named"):
        s.traversal("c9")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="catunifgausnoie0123456789x@(),:-.", max_size=40))
def test_parser_fuzz_never_crashes_unexpectedly(text):
    try:
        s = LatentSpec.parse(text)
    except SpecError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert LatentSpec.parse(s.to_text()) == s
        assert s.input_dim >= 1


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.integers(2, 50).map(lambda k: Categorical(k)), st.just(Uniform()), st.just(Gaussian())), max_size=6),
    st.integers(0, 200),
    st.sampled_from(["uniform", "normal"]),
)
def test_round_trip_property(codes, noise, prior):
    if noise == 0 and not codes:
        return
    s = LatentSpec(noise, tuple(codes), prior)
    assert LatentSpec.parse(s.to_text()) == s
    assert LatentSpec.from_dict(s.to_dict()) == s


_TOKENS = st.one_of(
    st.sampled_from(["cat", "unif", "gauss", "noise", "x", "@", "(", ":", ")", ",", ":normal", ":uniform", "-", ".", "e",
                     "e-", "nan", "inf", " ", "2x", "1e999"]),
    st.integers(0, 10**12).map(str),
    st.text(max_size=3),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_TOKENS, max_size=14).map("".join) | st.text(max_size=60))
def test_parser_fuzz_any_text_is_a_spec_or_a_one_line_spec_error(text):
    try:
        s = LatentSpec.parse(text)
    except SpecError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert LatentSpec.parse(s.to_text()) == s and 1 <= s.input_dim <= 1 << 16


_ANY = st.recursive(st.none() | st.booleans() | st.integers() | st.just(10**400) | st.floats() | st.text(max_size=8),
                    lambda ch: st.lists(ch, max_size=3) | st.dictionaries(st.text(max_size=5), ch, max_size=3),
                    max_leaves=8)
_CODE = st.dictionaries(st.sampled_from(["kind", "k", "lo", "hi", "lam", "lambda", "name"]) | st.text(max_size=4),
                        st.sampled_from(["categorical", "uniform", "gaussian", "c1", "../x"]) | st.integers(-2, 12)
                        | st.floats(-3, 3) | _ANY, max_size=5)


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({}, optional={"noise": st.integers(-2, 70) | _ANY, "noise_prior": st.sampled_from(["uniform", "normal"]) | _ANY,
                                           "codes": st.lists(_CODE, max_size=4) | _ANY, "extra": _ANY}) | _ANY)
def test_from_dict_fuzz_is_a_spec_or_a_one_line_spec_error(d):
    try:
        s = LatentSpec.from_dict(d)
    except SpecError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert LatentSpec.from_dict(s.to_dict()) == s


def test_absurd_sizes_are_refused_quickly():
    for text in ["99999999xcat2", "noise99999999999", "cat99999999999", "cat" + "9" * 5000]:
        with pytest.raises(SpecError):
            LatentSpec.parse(text)
    with pytest.raises(SpecError, match="code name"):
        LatentSpec(3, (Uniform(name="../../x"),))


def test_std_mode_belongs_to_the_code_in_text_and_dict_forms():
    spec = LatentSpec.parse("cat10,unif2:learned@0.1,gauss1,unif1(-2:2):learned,noise8")
    assert [c.std for c in spec.continuous] == ["learned", "learned", "fixed", "learned"]
    assert LatentSpec.parse(spec.to_text()) == spec and LatentSpec.from_dict(spec.to_dict()) == spec
    assert LatentSpec.parse("unif2@0.1:learned") == LatentSpec.parse("unif2:learned@0.1")
    for bad in ("cat10:learned", "unif2:learned@0.1:fixed", "unif2:sometimes"):
        with pytest.raises(SpecError):
            LatentSpec.parse(bad)
    with pytest.raises(SpecError, match="std must be 'fixed' or 'learned'"):
        LatentSpec.from_dict({"noise": 2, "codes": [{"kind": "uniform", "std": "wide"}]})


def test_codes_own_centre_traversal_range_and_posterior():
    spec = LatentSpec.parse("cat4,unif1(0:4),gauss1:learned,noise2")
    cat, unif, gauss = spec.codes
    assert unif.centre == 2.0 and unif.traversal_range == (-2.0, 6.0) and unif.support == (0.0, 4.0)
    assert gauss.centre == 0.0 and gauss.traversal_range == (-2.0, 2.0)
    lat, _rows, cols = spec.traversal("c2")
    assert torch.allclose(lat.codes[1][:cols], torch.linspace(-2.0, 6.0, 10))
    assert torch.all(lat.codes[2] == 0.0)  # the other continuous code sits at its centre
    params = torch.tensor([[0.5, 1.0]])
    assert torch.allclose(gauss.posterior(params), torch.tensor([[0.5, math.e]]))  # learned: exp(log-std)
    assert torch.allclose(unif.posterior(params), torch.tensor([[0.5, 1.0]]))  # fixed: std 1
    assert torch.allclose(cat.posterior(torch.zeros(1, 4)), torch.full((1, 4), 0.25))


def test_keep_apart_reflects_inside_the_prior():
    code = LatentSpec.parse("unif1,noise1").codes[0]
    a = torch.tensor([0.0, 0.9, -0.9, 0.0])
    b = torch.tensor([0.1, 0.8, -0.95, 0.9])
    out = code.keep_apart(a, b, 0.5)  # at least 0.5 of the half-width (1) apart
    assert torch.all((out - a).abs() >= 0.5 - 1e-6) and torch.all(out.abs() <= 1.0)
    assert out[3] == b[3]  # already far enough: unchanged
    assert torch.equal(code.keep_apart(a, b, 0.0), b)
