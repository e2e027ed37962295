"""Writes a few cases of the ONNX backend node suite (onnx 1.23.2's
onnx.backend.test.case.node.collect_testcases()) as fixtures for ImportBackendCaseTests:
backend/NAME.onnx and backend/NAME.npz with, per data set i, `i.input.X` (NumPy types),
`i.bits.X` (types NumPy lacks: float8, int4, bfloat16 as their raw uint8/uint16 bits) and
`i.output.Y` (the expected values as float64). The cases cover the converters of the
narrow types, quantization, Attention, RotaryEmbedding, SwiGLU, CausalConvWithState,
the windows, bitwise operators, BitShift, empty reductions, pooling with wide pads,
LinearAttention, NonMaxSuppression, GridSample, AffineGrid and ReverseSequence.

    python Tests/EmberONNXTests/Fixtures/generate_backend_cases.py
"""
import os

import numpy as np
import onnx
import onnx.numpy_helper
from onnx.backend.test.case.node import collect_testcases

CASES = [
    "test_cast_FLOAT_to_FLOAT8E4M3FN", "test_cast_no_saturate_FLOAT_to_FLOAT8E5M2", "test_cast_FLOAT8E4M3FNUZ_to_FLOAT",
    "test_cast_FLOAT_to_INT4", "test_cast_UINT4_to_FLOAT", "test_cast_FLOAT_to_FLOAT4E2M1", "test_cast_e8m0_FLOAT_to_FLOAT8E8M0",
    "test_castlike_FLOAT_to_FLOAT8E5M2FNUZ", "test_cast_FLOAT_to_BFLOAT16",
    "test_quantizelinear_blocked_asymmetric", "test_quantizelinear_int4", "test_dequantizelinear_axis", "test_dequantizelinear_e4m3fn",
    "test_dynamicquantizelinear", "test_qlinearmatmul_2D_uint8_float32", "test_matmulinteger",
    "test_attention_4d_gqa_with_past_and_present", "test_attention_3d_causal", "test_attention_4d_attn_mask_bool",
    "test_attention_4d_with_qk_matmul_softcap", "test_attention_4d_causal_fp16",
    "test_rotary_embedding_interleaved", "test_rotary_embedding_3d_input", "test_swiglu_alpha",
    "test_causal_conv_with_state_basic", "test_hannwindow_symmetric", "test_blackmanwindow",
    "test_bitwise_and_i32_2d", "test_bitwise_xor_i16_3d", "test_bitwise_not_3d", "test_bitcast_float32_to_int32",
    "test_bitshift_left_int8_overflow", "test_bitshift_right_int32_shift_ge_width",
    "test_reduce_max_empty_set", "test_averagepool_2d_pads", "test_maxpool_2d_uint8",
    "test_linear_attention_gated_delta_gqa", "test_linear_attention_prefill_with_past",
    "test_nonmaxsuppression_suppress_by_IOU_and_scores", "test_nonmaxsuppression_center_point_box_format",
    "test_gridsample_bicubic", "test_gridsample_reflection_padding", "test_gridsample_volumetric_nearest_align_corners_0",
    "test_affine_grid_3d_align_corners", "test_reversesequence_batch",
]


def array(value):
    return onnx.numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else np.asarray(value)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "backend")
    os.makedirs(out, exist_ok=True)
    found = {case.name: case for case in collect_testcases() if case.name in CASES}
    missing = set(CASES) - set(found)
    assert not missing, f"not in this onnx version: {sorted(missing)}"
    for name in CASES:
        case = found[name]
        initializers = {i.name for i in case.model.graph.initializer}
        inputs = [i.name for i in case.model.graph.input if i.name not in initializers]
        outputs = [o.name for o in case.model.graph.output]
        arrays = {}
        for index, (values, expected) in enumerate(case.data_sets):
            for input_name, value in zip(inputs, map(array, values)):
                if value.dtype.kind in "biuf" and value.dtype.itemsize == np.dtype(value.dtype.str).itemsize and value.dtype.name in np.sctypeDict:
                    arrays[f"{index}.input.{input_name}"] = value
                else:
                    arrays[f"{index}.bits.{input_name}"] = value.view(np.uint8 if value.dtype.itemsize == 1 else np.uint16)
            for output_name, value in zip(outputs, map(array, expected)):
                arrays[f"{index}.output.{output_name}"] = value.astype(np.float64)
        onnx.save(case.model, os.path.join(out, f"{name}.onnx"))
        np.savez(os.path.join(out, f"{name}.npz"), **arrays)
        print(name, case.rtol, case.atol)


if __name__ == "__main__":
    main()
