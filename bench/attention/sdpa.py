"""PyTorch's scaled_dot_product_attention on the same shapes as Horizon's
attention perf test (tests/cuda_attention_tc_test.cpp, CudaAttentionTc.Perf):
B = 1, H = 32 query heads, KVH = 32 or 8, D = 128, S = 2048 and 4096, causal,
bf16 inputs. Times forward and backward (median of 15 after 3 warm-ups) with
each backend that runs (flash, cuDNN, efficient) and prints TFLOP/s counted
as the Horizon test counts them: forward 2·B·H·S²·D (causal half of
4·B·H·S²·D), backward 2.5 × that."""
import sys

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel


def median_ms(fn, reps=15):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2]


def main():
    print(torch.cuda.get_device_name(0), "torch", torch.__version__)
    backends = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
                "efficient": SDPBackend.EFFICIENT_ATTENTION}
    for S in (2048, 4096):
        for KVH in (32, 8):
            B, H, D = 1, 32, 128
            flops = 2.0 * B * H * S * S * D
            q = torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
            k = torch.randn(B, KVH, S, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
            v = torch.randn(B, KVH, S, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
            dout = torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16)
            for name, backend in backends.items():
                try:
                    with sdpa_kernel(backend):
                        def fwd():
                            return torch.nn.functional.scaled_dot_product_attention(
                                q, k, v, is_causal=True, enable_gqa=KVH != H)
                        out = fwd()
                        f_ms = median_ms(fwd)

                        def bwd():
                            q.grad = k.grad = v.grad = None
                            out.backward(dout, retain_graph=True)
                        b_ms = median_ms(bwd)
                except RuntimeError as e:  # a backend that does not serve the shape
                    print(f"S={S} KVH={KVH} {name}: not available ({str(e).splitlines()[0][:80]})")
                    continue
                print(f"S={S} H={H} KVH={KVH} D={D} {name}: forward {f_ms:.3f} ms ({flops / f_ms * 1e-9:.0f} TFLOP/s), "
                      f"backward {b_ms:.3f} ms ({2.5 * flops / b_ms * 1e-9:.0f} TFLOP/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
