"""The comparer: every difference named, with how much and where (numpy only, no torch)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tutor.compare import Tolerance, compare, compare_literal, value_difference
from tutor.values import (
    ArrayValue,
    DeviceValue,
    DtypeValue,
    ObjectValue,
    SetValue,
    SizeValue,
    TensorValue,
)


def tensor(values, dtype="float32", *, device="cpu", requires_grad=False, grad=None, shape=None):
    array = np.asarray(values, dtype="float32" if dtype == "bfloat16" else dtype)
    return TensorValue(
        dtype=dtype,
        shape=tuple(array.shape) if shape is None else shape,
        device=device,
        requires_grad=requires_grad,
        is_leaf=True,
        grad_fn=None,
        is_parameter=False,
        array=array,
        grad=grad,
    )


def test_equal_tensors_match():
    assert compare(tensor([1.0, 2.0]), tensor([1.0, 2.0])) == []


def test_attributes_are_reported_in_order():
    expected = tensor([[1.0, 2.0]], requires_grad=True)
    got = tensor([1.0, 2.0], dtype="float64", device="cuda")
    problems = compare(expected, got)
    assert problems[0] == "shape is [2], expected [1, 2]"
    assert problems[1] == "dtype is torch.float64, expected torch.float32"
    assert problems[2] == "device is cuda, expected cpu"
    assert problems[3] == "requires_grad is False, expected True"


def test_value_difference_says_how_much_and_where():
    expected = tensor([[1.0, 2.0], [3.0, 4.0]])
    got = tensor([[1.0, 2.5], [3.0, 6.0]])
    [message] = compare(expected, got)
    assert "values differ at 2 of 4 elements (50%)" in message
    assert "max abs difference 2 at [1, 1] (expected 4, got 6)" in message
    assert "first mismatch at [0, 1]: expected 2, got 2.5" in message


def test_default_tolerance_is_torchs_per_dtype():
    assert compare(tensor([1.0]), tensor([1.0 + 1e-6])) == []
    assert compare(tensor([1.0]), tensor([1.0 + 1e-3])) != []
    assert compare(tensor([1.0], "float16"), tensor([1.0009765625], "float16")) == []
    assert compare(tensor([1.0], "bfloat16"), tensor([1.0078125], "bfloat16")) == []
    assert compare(tensor([1.0], "float64"), tensor([1.0 + 1e-6], "float64")) != []


def test_tolerance_overrides_and_exact():
    assert compare(tensor([1.0]), tensor([1.1]), Tolerance(atol=0.2)) == []
    assert compare(tensor([1.0]), tensor([1.0 + 1e-7]), Tolerance(exact=True)) != []


DEFAULT = Tolerance()


def closeness(kind: str, expected: float, got: float, tol: Tolerance = DEFAULT) -> bool:
    """Whether `got` passes for `expected`, the values arriving as `kind` (all float32-like)."""
    if kind == "tensor":
        return compare(tensor([expected]), tensor([got]), tol) == []
    if kind == "numpy array":
        as_array = [
            ArrayValue("float32", (1,), np.asarray([value], dtype="float32"))
            for value in (expected, got)
        ]
        return compare(*as_array, tol) == []
    if kind == "python float":
        return compare(float(expected), float(got), tol) == []
    assert kind == "literal"
    return compare_literal([expected], tensor([got]), tol) == []


KINDS = ["tensor", "numpy array", "python float", "literal"]


@pytest.mark.parametrize("kind", KINDS)
def test_rtol_scales_with_the_expected_value_and_atol_does_not(kind):
    # float32 defaults: rtol 1.3e-6, atol 1e-5. Far apart, so mixing them up changes verdicts.
    assert not closeness(kind, 1e6, 1e6 + 5)  # allowed 1e-5 + 1.3e-6 * 1e6 = 1.3
    assert closeness(kind, 1e6, 1e6 + 1)
    assert closeness(kind, 0.0, 5e-6)  # allowed: atol alone
    assert not closeness(kind, 0.0, 5e-5)
    relative = Tolerance(rtol=0.1, atol=0.0)
    assert closeness(kind, 100.0, 105.0, relative)
    assert not closeness(kind, 0.0, 0.05, relative)
    absolute = Tolerance(rtol=0.0, atol=0.1)
    assert not closeness(kind, 100.0, 105.0, absolute)
    assert closeness(kind, 0.0, 0.05, absolute)


def test_nan_equals_nan_but_not_a_number():
    assert compare(tensor([math.nan, 1.0]), tensor([math.nan, 1.0])) == []
    [message] = compare(tensor([math.nan, 1.0]), tensor([0.0, 1.0]))
    assert "1 of 2 elements" in message and "[0]" in message


def test_integers_compare_exactly():
    assert compare(tensor([1, 2], "int64"), tensor([1, 3], "int64")) != []
    assert compare(tensor([True, False], "bool"), tensor([True, False], "bool")) == []
    assert "1 of 2" in compare(tensor([True, False], "bool"), tensor([True, True], "bool"))[0]


def test_grad_is_compared_after_values():
    expected = tensor([1.0], requires_grad=True, grad=tensor([4.5]))
    missing = tensor([1.0], requires_grad=True)
    assert "no gradient reached this tensor" in compare(expected, missing)[0]
    wrong = tensor([1.0], requires_grad=True, grad=tensor([3.0]))
    [message] = compare(expected, wrong)
    assert message.startswith(".grad: values differ")
    extra = tensor([1.0], requires_grad=True, grad=tensor([3.0]))
    assert "should be None" in compare(tensor([1.0], requires_grad=True), extra)[0]


def test_state_dicts_name_missing_unexpected_and_different_keys():
    expected = {"0.weight": tensor([1.0]), "0.bias": tensor([0.0])}
    got = {"0.weight": tensor([2.0]), "1.bias": tensor([0.0])}
    problems = compare(expected, got)
    assert "missing keys: '0.bias'" in problems
    assert "unexpected keys: '1.bias'" in problems
    assert any(p.startswith("['0.weight']: values differ") for p in problems)


def test_scalars_strings_none_and_containers():
    assert compare(4.5, 4.5000001) == []
    assert "off by" in compare(4.5, 4.6)[0]
    assert compare(3, 3) == []
    assert compare(3, 4) == ["expected 3, got 4"]
    assert "expected a Python int (3), got a float (3.0)" in compare(3, 3.0)[0]
    assert compare(True, 1) != []
    assert compare("cpu", "cuda") == ["expected 'cpu', got 'cuda'"]
    assert compare(None, None) == []
    assert "expected None" in compare(None, tensor([1.0]))[0]
    assert compare([1, 2], [1, 2, 3]) == ["expected 2 items, got 3: expected [1, 2], got [1, 2, 3]"]
    many = [tensor([float(i)]) for i in range(3)]
    assert compare(many, many[:2]) == ["expected 3 items, got 2"]
    assert compare((1, 2), [1, 2]) != []
    assert compare([tensor([1.0])], [tensor([2.0])])[0].startswith("[0]: values differ")
    assert compare(math.nan, math.nan) == []


def test_parameters_and_plain_tensors_differ():
    from dataclasses import replace

    parameter = replace(tensor([1.0], requires_grad=True), is_parameter=True)
    plain = tensor([1.0], requires_grad=True)
    assert compare(parameter, plain) == ["it is a plain tensor, expected an nn.Parameter"]


def test_boolean_values_print_as_booleans():
    [message] = compare_literal(True, tensor(False, "bool"))
    assert "expected True, got False" in message


def test_special_values():
    assert compare(SizeValue((2, 3)), SizeValue((2, 3))) == []
    assert compare(DtypeValue("torch.float32"), DtypeValue("torch.float64")) != []
    assert compare(DeviceValue("cpu", None), DeviceValue("cpu", None)) == []
    a = ObjectValue("module", "Linear", "Linear(in_features=2, out_features=3, bias=True)")
    b = ObjectValue("module", "Linear", "Linear(in_features=2, out_features=4, bias=True)")
    assert "the Linear differs" in compare(a, b)[0]
    assert "expected a Linear, got" in compare(a, 3)[0]


@pytest.mark.parametrize(
    "literal, got, ok",
    [
        ([[4.5, 4.5]], tensor([[4.5, 4.5]]), True),
        ([4.5, 4.5], tensor([[4.5, 4.5]]), False),
        (2.0, tensor(2.0), True),
        ([2, 3], SizeValue((2, 3)), True),
        ("torch.float64", DtypeValue("torch.float64"), True),
        ("float64", DtypeValue("torch.float64"), True),
        ("float32", DtypeValue("torch.float64"), False),
        ("cpu", DeviceValue("cpu", None), True),
        ("cuda", DeviceValue("cuda", 0), True),
        ("cuda:0", DeviceValue("cuda", 0), True),
        ("cpu", DeviceValue("cuda", 0), False),
        (None, None, True),
        (True, True, True),
        ([1, 2], (1, 2), True),
        ([1.0, 2.0], tensor([1, 2], "int64"), False),
    ],
)
def test_literals(literal, got, ok):
    assert (compare_literal(literal, got) == []) is ok


def test_literal_shape_mismatch_is_explained():
    [message] = compare_literal([4.5, 4.5], tensor([[4.5, 4.5]]))
    assert message.startswith("shape is [1, 2], expected [2]")


def test_value_difference_of_zero_d_arrays():
    assert value_difference(np.array(1.0), np.array(1.0), 0, 0) == ""
    assert "the only element" in value_difference(np.array(1.0), np.array(2.0), 0, 0)


# ------------------------------------------------------------ corners found by mutation testing


def test_special_floats_match_only_themselves():
    assert compare(math.nan, math.nan) == [] and compare(math.inf, math.inf) == []
    for expected, got in [(math.nan, 1.0), (1.0, math.nan), (math.inf, 1.0), (1.0, math.inf)]:
        assert compare(expected, got) != [], (expected, got)
    assert compare(math.inf, -math.inf) != []
    assert compare(1e300, math.inf) != []


def test_exact_applies_to_python_floats_too():
    assert compare(1.0, 1.0, Tolerance(exact=True)) == []
    assert compare(4.5, 4.5 + 1e-9) == []
    assert compare(4.5, 4.5 + 1e-9, Tolerance(exact=True)) == [
        "expected 4.5, got 4.500000001 (off by 1e-09)"
    ]
    assert compare(4.5, 4.625) == ["expected 4.5, got 4.625 (off by 0.125)"]


def test_integer_tensors_stay_exact_under_a_tolerance():
    loose = Tolerance(rtol=0.1, atol=1.0)
    assert compare(tensor([100], "int64"), tensor([105], "int64"), loose) != []
    assert compare(tensor([100.0]), tensor([105.0]), loose) == []


def test_an_infinite_difference_is_called_inf():
    message = value_difference(np.array([1.0, 2.0]), np.array([1.0, np.inf]), 1e-5, 1e-5)
    assert "max abs difference inf at [1] (expected 2, got inf)" in message


def test_empty_tensors_match():
    assert compare(tensor(np.zeros((0, 3))), tensor(np.zeros((0, 3)))) == []


def test_complex_values_differ_by_their_modulus():
    [message] = compare(tensor([1 + 1j], "complex64"), tensor([1 + 3j], "complex64"))
    assert "max abs difference 2 at [0]" in message


def test_the_whole_value_message():
    assert value_difference(np.array([1.0, 5.0, 2.0]), np.array([1.5, 9.0, 2.0]), 0, 0) == (
        "values differ at 2 of 3 elements (66.7%); "
        "max abs difference 4 at [1] (expected 5, got 9); "
        "first mismatch at [0]: expected 1, got 1.5"
    )
    assert value_difference(np.array(1.0), np.array(2.0), 0, 0) == (
        "values differ at 1 of 1 elements (100%); max abs difference 1 at the only element "
        "(expected 1, got 2)"
    )


def test_nested_values_name_their_path():
    inner = tensor([1.0], requires_grad=True, grad=tensor([2.0]))
    wrong = tensor([1.0], requires_grad=True, grad=tensor([3.0]))
    [message] = compare({"w": [inner]}, {"w": [wrong]})
    assert message.startswith("['w'][0].grad: values differ")
    expected = {"a": 1, "b": 2, "c": 3}
    assert compare(expected, {"c": 3}) == ["missing keys: 'a', 'b'"]
    assert compare({"c": 3}, expected) == ["unexpected keys: 'a', 'b'"]


def test_items_of_containers_name_their_index():
    assert compare([1, 2], [1, 3]) == ["[1]: expected 2, got 3"]
    a = ObjectValue("object", "Foo", "Foo(1)")
    b = ObjectValue("object", "Foo", "Foo(2)")
    assert compare([a], [b]) == ["[0]: the Foo differs: expected 'Foo(1)', got 'Foo(2)'"]


def test_short_lists_are_printed_whole_and_long_ones_are_not():
    eleven, twelve, thirteen = list(range(11)), list(range(12)), list(range(13))
    assert compare(twelve, eleven) == [
        f"expected 12 items, got 11: expected {twelve}, got {eleven}"
    ]
    assert compare(thirteen, twelve) == ["expected 13 items, got 12"]


def test_descriptions_of_what_came_instead():
    assert compare(3.0, 3) == ["expected a Python float (3.0), got an int (3)"]
    assert compare(ObjectValue("object", "Foo", "Foo()"), 3) == ["expected a Foo object, got int 3"]
    assert compare(SizeValue((2, 3)), 3) == ["expected torch.Size([2, 3]), got int 3"]
    assert compare("cpu", 3) == ["expected 'cpu', got int 3"]
    assert compare(None, "x" * 100) == [f"expected None, got {'x' * 59 + '…'!r}"]


def test_short_keeps_the_limit_exactly():
    from tutor.compare import short

    assert short("x" * 60) == "x" * 60
    assert short("x" * 61) == "x" * 59 + "…"
    assert short("abcdef", 4) == "abc…"


def test_integer_literals_against_float_tensors_use_the_tolerance():
    assert compare_literal([1, 2], tensor([1.000001, 2.0])) == []
    assert compare_literal([1, 2], tensor([1.1, 2.0])) != []


def array(values, dtype="float32", *, text=None):
    if text is not None:  # an object array: the child sends its repr only
        return ArrayValue("object", (len(values),), None, text)
    data = np.asarray(values, dtype=dtype)
    return ArrayValue(dtype, tuple(data.shape), data)


def test_numpy_arrays_compare_shape_dtype_values_and_object_reprs():
    assert compare(array([1.0, 2.0]), array([1.0, 2.0])) == []
    assert compare([array([1.0, 2.0])], [array([1.0, 2.0, 3.0])]) == [
        "[0]: shape is [3], expected [2]"
    ]
    assert compare(array([1, 2], "int64"), array([1.0, 2.0], "float64")) == [
        "dtype is float64, expected int64"
    ]
    [message] = compare([array([1.0, 2.0])], [array([1.0, 2.5])])
    assert message.startswith("[0]: values differ at 1 of 2 elements")
    same = array(["a", "b"], text="array(['a', 'b'], dtype=object)")
    other = array(["a", "c"], text="array(['a', 'c'], dtype=object)")
    assert compare(same, same) == []
    assert compare(same, other) == [
        "the array differs: expected \"array(['a', 'b'], dtype=object)\", "
        "got \"array(['a', 'c'], dtype=object)\""
    ]
    assert compare(array([1.0]), tensor([1.0])) == [
        "expected a numpy array of shape [1], float32, got tensor of shape [1], float32 on cpu"
    ]


def test_sets_compare_their_items():
    assert compare(SetValue((1, 2)), SetValue((1, 2))) == []
    assert compare(SetValue((0.5,)), SetValue((0.5000001,))) == []  # floats within tolerance
    assert compare(SetValue((1, 2)), SetValue((1, 3))) == [
        "expected the set (1, 2), got the set (1, 3)"
    ]
    assert compare(SetValue((1, 2)), [1, 2]) == ["expected the set (1, 2), got a list of 2 items"]


@pytest.mark.parametrize(
    "literal, got, ok",
    [
        ([2, 3], SizeValue((2, 4)), False),
        ([1, 2], [1, 2], True),  # a list stays a list
        ([1, 2], (1, 2, 3), False),
        ("cpu", "cpu", True),  # a string that is not a device: `expr: x.device.type`
        ("cpu", "cuda", False),
        (0.5, 0.5000001, True),  # plain floats get float32's tolerance
        (0.5, 0.6, False),
        ([True, False], tensor([1.0, 0.0]), True),  # booleans against a float tensor
        ([True, True], tensor([1.0, 0.0]), False),
    ],
)
def test_more_literals(literal, got, ok):
    assert (compare_literal(literal, got) == []) is ok


def test_literal_tolerances_reach_plain_floats():
    assert compare_literal(0.5, 0.6, Tolerance(atol=0.2)) == []
    assert compare_literal(0.5, 0.5000001, Tolerance(exact=True)) != []


# ----------------------------------------------------------------------- the failure panel


def test_tensor_report_checklist_and_side_by_side_values():
    from tutor.tensor_report import tensor_report

    expected = tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    got = tensor([[1.0, 2.0], [3.0, 4.5]])
    report = tensor_report(expected, got, Tolerance())
    items = {i.name: (i.passed, i.detail) for i in report.checklist}
    assert list(items) == ["shape", "dtype", "device", "requires_grad", "values", "grad"]
    assert items["shape"] == (True, "[2, 2]")
    assert items["requires_grad"] == (False, "False, expected True")
    assert items["values"] == (False, "1 of 4 elements differ (25%)")
    assert items["grad"] == (True, "None on both sides")
    assert report.got is not None and report.expected is not None
    assert report.got.labels == ("[0]", "[1]")
    assert report.got.rows == (("1", "2"), ("3", "4.5"))
    assert report.expected.rows == (("1", "2"), ("3", "4"))
    assert report.differs == ((False, False), (False, True))
    found = report.mismatches
    assert found is not None and (found.count, found.total) == (1, 4)
    assert (found.max_abs, found.max_abs_at, found.max_rel) == (0.5, (1, 1), 0.125)
    assert (found.max_abs_expected, found.max_abs_got) == ("4", "4.5")


def test_tensor_report_of_large_tensors_keeps_only_the_numbers():
    from tutor.tensor_report import mismatch_lines, tensor_report

    expected = tensor(np.zeros((20, 10)))
    values = np.zeros((20, 10))
    values[3, 7] = 2.0
    values[5, 1] = np.nan
    report = tensor_report(expected, tensor(values), Tolerance())
    assert report.got is None and report.expected is None and report.differs is None
    found = report.mismatches
    assert found is not None and found.count == 2 and found.percent == 1.0
    assert found.first_at == (3, 7) and found.max_abs_at == (5, 1) and math.isinf(found.max_abs)
    lines = mismatch_lines(found)
    assert lines[0] == "2 of 200 elements differ (1%)"
    assert lines[1] == "max abs difference inf at [5, 1] (expected 0, got nan)"
    data = report.to_json()
    assert data["mismatches"]["max_abs"] is None  # JSON has no inf
    assert data["checklist"][4] == {
        "name": "values",
        "passed": False,
        "detail": "2 of 200 elements differ (1%)",
    }


def test_tensor_report_shapes_grads_and_literals():
    from tutor.tensor_report import literal_report, tensor_report

    report = tensor_report(tensor([1.0, 2.0]), tensor([[1.0, 2.0]]), Tolerance())
    items = {i.name: (i.passed, i.detail) for i in report.checklist}
    assert items["shape"] == (False, "[1, 2], expected [2]")
    assert items["values"] == (None, "not compared: the shapes differ")
    assert report.differs is None and report.got is not None and report.got.rows == (("1", "2"),)

    with_grad = tensor([1.0], requires_grad=True, grad=tensor([2.0]))
    wrong_grad = tensor([1.0], requires_grad=True, grad=tensor([3.0]))
    report = tensor_report(with_grad, wrong_grad, Tolerance())
    assert report.checklist[-1].detail == "differs: values"
    assert report.grad is not None and report.grad.got is not None
    assert report.grad.got.rows == (("3",),)
    missing = tensor_report(with_grad, tensor([1.0], requires_grad=True), Tolerance())
    assert missing.checklist[-1].passed is False
    assert missing.checklist[-1].detail.startswith("None: no gradient reached it")

    literal = literal_report(
        [[4.5, 4.5], [4.5, 4.5]], tensor([[4.5, 4.5], [4.5, 1.0]]), Tolerance()
    )
    assert literal is not None
    assert [i.passed for i in literal.checklist] == [True, None, None, None, False]
    assert literal.differs == ((False, False), (False, True))
    assert literal_report("float32", tensor([1.0]), Tolerance()) is None

    long = tensor(np.arange(12.0))
    report = tensor_report(long, long, Tolerance())
    assert report.got is not None and report.got.labels == ("[0:8]", "[8:12]")
    assert report.mismatches is None and report.checklist[4].detail == "all 12 match"
