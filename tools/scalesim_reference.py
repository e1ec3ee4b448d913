"""Reference cycle counts from SCALE-Sim 3.0 (weight-stationary dataflow, RecPipe's Fig. 10a
simulator) for the MLP layers of the RecPipe catalog models at M = 4096 items, on 128x128 and
32x32 arrays. Not a project dependency: run it in a scratch venv,

    python3 -m venv /tmp/ss && /tmp/ss/bin/pip install scalesim "numpy<2"
    /tmp/ss/bin/python tools/scalesim_reference.py tests/data/scalesim_ws_m4096.json

(SCALE-Sim 3.0.0 needs numpy < 2, and its get_total_cycles() is broken, so the layer's compute
report is read directly.) SRAMs are 1 GiB each so there are no memory stalls: the count is the
compute count. The layers are the catalog's (rpaccel.models): bottom MLP, then the top MLP
fed the 27-vector concatenation.
"""
import json
import os
import sys
import tempfile

from scalesim.scale_sim import scalesim

LAYERS = {
    "rm-small": [(13, 64), (64, 4), (108, 64), (64, 1)],
    "rm-med": [(13, 64), (64, 16), (432, 64), (64, 1)],
    "rm-large": [(13, 512), (512, 256), (256, 128), (128, 64), (64, 32), (864, 96), (96, 1)],
}
CFG = """[general]
run_name = rp
[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False
[architecture_presets]
ArrayHeight = {a}
ArrayWidth = {a}
IfmapSramSzkB = 1048576
FilterSramSzkB = 1048576
OfmapSramSzkB = 1048576
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Dataflow = ws
ReadRequestBuffer = 32
WriteRequestBuffer = 32
[layout]
IfmapCustomLayout = False
FilterCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2
[sparsity]
SparsitySupport = false
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40
"""
M = 4096
out = []
work = tempfile.mkdtemp(prefix="scalesim-")
for a in (128, 32):
    for model, layers in LAYERS.items():
        for i, (k, n) in enumerate(layers):
            d = os.path.join(work, f"run_{a}_{model}_{i}")
            os.makedirs(d, exist_ok=True)
            open(f"{d}/c.cfg", "w").write(CFG.format(a=a))
            open(f"{d}/t.csv", "w").write(f"Layer, M, N, K,\nl{i}, {M}, {n}, {k},\n")
            open(f"{d}/l.csv", "w").write("Layer,\n")
            s = scalesim(save_disk_space=True, verbose=False, config=f"{d}/c.cfg",
                         topology=f"{d}/t.csv", layout=f"{d}/l.csv", input_type_gemm=True)
            s.run_scale(top_path=d)
            lay = s.runner.single_layer_sim_object_list[0]
            it = lay.get_compute_report_items()
            out.append({"array": a, "model": model, "layer": i, "k": k, "n": n, "m": M,
                        "scalesim_total_cycles": int(it[1]), "scalesim_stall_cycles": int(it[2]),
                        "scalesim_ws_cycles": int(it[1]) - int(it[2])})
            print(out[-1], flush=True)
json.dump({"source": "SCALE-Sim 3.0.0 (PyPI scalesim), Dataflow = ws, GEMM input, no stalls",
           "layers": out}, open(sys.argv[1] if len(sys.argv) > 1 else "scalesim_ws.json", "w"),
          indent=1)
