"""Method specs: built-ins with parameters, module:function, labels, models, clear errors."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from benchmark_synthetic import speckle_image

from pocusiq.benchmark.baselines import median
from pocusiq.benchmark.methods import available_methods, parse_method_spec, parse_params, resolve_methods
from pocusiq.errors import CheckpointError, ConfigError


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return speckle_image(32, seed=3)[0]


def test_builtin_names() -> None:
    assert available_methods() == ["identity", "median", "bilateral", "nlm", "srad", "clahe", "unsharp"]


def test_builtin_with_parameters_applies_them(image: np.ndarray) -> None:
    method = parse_method_spec("median:size=3")
    assert method.name == "median:size=3"
    np.testing.assert_array_equal(method(image), median(image, size=3))
    assert not np.array_equal(method(image), median(image))  # the default size is 5


def test_params_are_typed_yaml_scalars() -> None:
    assert parse_params("a=5, b=0.5,c=true,d=null,e=reflect", "x") == {"a": 5, "b": 0.5, "c": True, "d": None, "e": "reflect"}


def test_fingerprint_depends_on_parameters() -> None:
    a, b, c = parse_method_spec("median"), parse_method_spec("median:size=3"), parse_method_spec("median:size=3")
    assert b.fingerprint == c.fingerprint
    assert a.fingerprint != b.fingerprint


def test_module_function_with_and_without_parameters(image: np.ndarray) -> None:
    method = parse_method_spec("benchmark_synthetic:invert")
    np.testing.assert_array_equal(method(image), 255 - image)
    method = parse_method_spec("benchmark_synthetic:brighten:amount=3")
    np.testing.assert_array_equal(method(image), np.clip(image.astype(int) + 3, 0, 255))
    method = parse_method_spec("scipy.ndimage:gaussian_filter:sigma=1")
    assert method(image).dtype == np.uint8


def test_label_prefix_names_the_method() -> None:
    method = parse_method_spec("smooth=median:size=7")
    assert (method.name, method.spec) == ("smooth", "median:size=7")


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("wavelet", ConfigError, "unknown method 'wavelet': built-in methods are identity, median, bilateral, nlm, srad, clahe"),
        ("median:sze=5", ConfigError, "method 'median:sze=5': unknown parameter(s) 'sze' for built-in method 'median' (known: size)"),
        ("median:5", ConfigError, "method 'median:5': parameter '5' is not of the form key=value"),
        ("median:size=3,size=5", ConfigError, "method 'median:size=3,size=5': parameter 'size' given twice"),
        ("no_such_module_xyz:fn", ConfigError, "method 'no_such_module_xyz:fn': cannot import module 'no_such_module_xyz'"),
        ("benchmark_synthetic:nope", ConfigError, "method 'benchmark_synthetic:nope': module 'benchmark_synthetic' has no attribute 'nope'"),
        ("benchmark_synthetic:NOT_CALLABLE", ConfigError, "benchmark_synthetic:NOT_CALLABLE is not callable"),
        ("benchmark_synthetic:brighten:amt=1", ConfigError, "unknown parameter(s) 'amt' for benchmark_synthetic:brighten (known: amount)"),
        ("target=median", ConfigError, "the name 'target' is reserved"),
        ("model:/nonexistent/best.safetensors", CheckpointError, "checkpoint /nonexistent/best.safetensors not found"),
        ("", ConfigError, "method spec must be a non-empty string"),
    ],
)
def test_bad_specs_give_clear_errors(spec: str, error: type, message: str) -> None:
    with pytest.raises(error) as info:
        parse_method_spec(spec)
    assert message in str(info.value)


def test_resolve_mapping_of_callables_and_specs(image: np.ndarray) -> None:
    methods = resolve_methods({"mine": lambda x: x, "small": "median:size=3", "part": functools.partial(median, size=3)})
    assert [m.name for m in methods] == ["mine", "small", "part"]
    assert methods[0].spec.startswith("python:")
    np.testing.assert_array_equal(methods[1](image), methods[2](image))
    # partials of the same function with different keywords are different computations
    other = resolve_methods({"part": functools.partial(median, size=5)})[0]
    assert other.fingerprint != methods[2].fingerprint


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ConfigError, match="method name 'median' given twice"):
        resolve_methods(["median", "median"])


def test_mapping_value_must_be_callable_or_spec() -> None:
    with pytest.raises(TypeError, match="method 'x': expected a callable image -> image or a spec string, got int"):
        resolve_methods({"x": 3})


def test_model_spec_loads_an_enhancer(tmp_path, monkeypatch) -> None:
    import pocusiq.enhance.enhancer as enhancer_module

    loaded = []

    class FakeEnhancer:
        @classmethod
        def from_checkpoint(cls, path):
            loaded.append(path)
            return lambda img: img

    monkeypatch.setattr(enhancer_module, "Enhancer", FakeEnhancer)
    checkpoint = tmp_path / "best.safetensors"
    checkpoint.write_bytes(b"v1")
    first = parse_method_spec(f"model:{checkpoint}")
    assert loaded and str(loaded[0]) == str(checkpoint)
    checkpoint.write_bytes(b"v2")  # retrained: new fingerprint, so a resumed benchmark redoes it
    assert parse_method_spec(f"model:{checkpoint}").fingerprint != first.fingerprint


def test_editing_a_python_method_changes_its_fingerprint() -> None:
    def version_1(image):
        return image + 1

    def version_2(image):
        return image + 2

    first = resolve_methods({"mine": version_1})[0]
    assert resolve_methods({"mine": version_1})[0].fingerprint == first.fingerprint
    assert resolve_methods({"mine": version_2})[0].fingerprint != first.fingerprint
