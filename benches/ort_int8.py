"""onnxruntime's int8 baseline: the dynamic quantization (int8 weights, activations quantized as
each product runs) of ../shared/baselines' ONNX export of the same model, with onnxruntime's
defaults (weights QInt8 per tensor), as a user of onnxruntime would make it.
Usage: $V/bin/python benches/ort_int8.py MINILM_ONNX OUT_ONNX   (then embed.py ort ... --onnx OUT_ONNX)"""
import sys
from onnxruntime.quantization import QuantType, quantize_dynamic

quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8)
