"""``rnnkit doctor``: what this machine gives the recurrent kernels, and which ones rnnkit chose on it."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    doctor = sub.add_parser(
        "doctor", help="show the CPU's features, the kernels available, and the fast paths chosen on this machine",
        description="What decides how fast rnnkit runs here: the CPU's instruction sets, torch's threads and oneDNN, "
                    "bf16 support, the compiled step kernels, and the fast-path choices timed on this CPU "
                    "(rnnkit/layers/fast/choose.py).",
    )
    doctor.add_argument("--json", action="store_true", help="print everything as one JSON object")
    doctor.add_argument("--forget", action="store_true", help="drop the timed choices, so they are measured again")
    doctor.set_defaults(run=_run_doctor)


def report() -> dict[str, Any]:
    """Everything ``rnnkit doctor`` shows, as plain data."""
    import torch

    from rnnkit.layers.fast import choose, native
    from rnnkit.layers.fast.onednn import onednn_applies
    from rnnkit.utils.machine import cpu, onednn_bf16

    c = cpu()
    kernels: dict[str, Any] = {"on": native.switched_on()}
    try:
        kernels |= {"built": True, "library": str(native.load()._lib._name)}
    except (native.NativeBuildError, OSError) as e:
        kernels |= {"built": False, "why": str(e)}
    return {
        "cpu": {"model": c.model, "family": c.family, "features": c.speed_flags},
        "torch": torch.__version__,
        "threads": {"torch": torch.get_num_threads(), "cpus": os.cpu_count()},
        "onednn": {"available": torch.backends.mkldnn.is_available(),
                   "packed_products": onednn_applies(torch.zeros(1))},
        "bf16": {"cpu": c.has_bf16, "onednn": onednn_bf16()},
        "native_kernels": kernels,
        "autotune": {"on": choose.autotuning(), "file": str(choose.TUNER.file()), "choices": choose.TUNER.load()},
    }


def _run_doctor(args: argparse.Namespace) -> int:
    from rnnkit.layers.fast import choose

    if args.forget:
        choose.TUNER.forget()
        print(f"dropped the timed choices ({choose.TUNER.file()}); they are measured again on first use")
        return 0
    r = report()
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    yes = {True: "yes", False: "no"}
    k = r["native_kernels"]
    lines = [
        f"CPU           {r['cpu']['model']} (family {r['cpu']['family']}): "
        f"{' '.join(r['cpu']['features']) or 'no AVX2/AVX-512'}",
        f"threads       torch uses {r['threads']['torch']} of {r['threads']['cpus']} CPUs",
        f"torch         {r['torch']}; oneDNN {yes[r['onednn']['available']]}, packed-weight products "
        f"{yes[r['onednn']['packed_products']]}",
        f"bf16          CPU {yes[r['bf16']['cpu']]}, oneDNN {yes[r['bf16']['onednn']]}"
        + ("" if r["bf16"]["cpu"] else " (bf16 products would be emulated, far slower than float32)"),
        f"C kernels     {'off (RNNKIT_NATIVE=0); ' if not k['on'] else ''}"
        f"{'built: ' + k['library'] if k['built'] else 'unavailable: ' + k['why']}",
        f"autotune      {'on' if r['autotune']['on'] else 'off (RNNKIT_AUTOTUNE=0)'}; choices in "
        f"{r['autotune']['file']}",
    ]
    choices = r["autotune"]["choices"]
    lines.append(f"choices       {len(choices)} made on this CPU" + (":" if choices else " so far (made on first use)"))
    for key, choice in sorted(choices.items()):
        case = dict(part.split("=", 1) for part in key.split(","))
        seconds = ", ".join(f"{p} {1000 * s:.2f} ms" for p, s in sorted(choice["seconds"].items()))
        lines.append(f"  {case['mode']:<8} {case['dtype']:<8} B={case['batch']:<4} I={case['input']:<4} "
                     f"H={case['hidden']:<5} L={case['layers']} D={case['directions']} T<={case['steps']:<5} "
                                               f"{'train' if case['backward'] == 'True' else 'infer'}: "
                                               f"{choice['path']:<9} ({seconds})")
    print("\n".join(lines))
    return 0
