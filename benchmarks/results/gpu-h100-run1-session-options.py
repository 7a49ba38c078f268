import glob, time, json, numpy as np, onnxruntime as ort, sys
res = {}
def med(fn, n=10, w=3):
    for _ in range(w): fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter(); fn(); ts.append((time.perf_counter() - t) * 1e3)
    return round(float(np.median(ts)), 2)
for name in ["fp16-cuda", "fp16_--target_cuda_--no-attention-mask"]:
    paths = glob.glob(f"/tmp/phonedge-gpu-*/{name}/*.onnx")
    if not paths: print("missing", name); continue
    p = paths[0]
    for label, opts in [("default", {}), ("heuristic", {"cudnn_conv_algo_search": "HEURISTIC"}),
                        ("maxws", {"cudnn_conv_use_max_workspace": "1"}), ("nhwc", {"prefer_nhwc": "1"}),
                        ("maxws+nhwc", {"cudnn_conv_use_max_workspace": "1", "prefer_nhwc": "1"})]:
        try:
            so = ort.SessionOptions()
            s = ort.InferenceSession(p, so, providers=[("CUDAExecutionProvider", opts), "CPUExecutionProvider"])
            ins = [i.name for i in s.get_inputs()]
            r = {}
            for secs, b in [(1, 1), (10, 1), (30, 1), (10, 16)]:
                x = np.random.randn(b, 16000 * secs).astype(np.float32)
                feeds = {"input_values": x}
                if "attention_mask" in ins: feeds["attention_mask"] = np.ones(x.shape, np.int64)
                r[f"{secs}s x{b}"] = med(lambda: s.run(None, feeds))
            res[f"{name} {label}"] = r; print(name, label, r, flush=True)
        except Exception as e:
            print(name, label, "ERR", e, flush=True)
json.dump(res, open(sys.argv[1], "w"), indent=1)
