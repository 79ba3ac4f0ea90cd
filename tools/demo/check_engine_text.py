"""Checks that the engine encodes prompts for the demo model as PyTorch does: token ids of both
tokenizers and the CLIP / T5 outputs of `resdit encode-text` against transformers, from the
exported folder (data/models/resdit-demo).

  python tools/demo/check_engine_text.py build/app/cli/resdit
"""
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5TokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scenes  # noqa: E402
from train_demo import OUT, T5_LEN  # noqa: E402


def main():
    resdit = sys.argv[1] if len(sys.argv) > 1 else "build/app/cli/resdit"
    clip_tok = CLIPTokenizer.from_pretrained(os.path.join(OUT, "tokenizer"), pad_token="<|endoftext|>")
    t5_tok = T5TokenizerFast.from_pretrained(os.path.join(OUT, "tokenizer_2"))
    clip = CLIPTextModel.from_pretrained(os.path.join(OUT, "text_encoder")).float().eval()
    t5 = T5EncoderModel.from_pretrained(os.path.join(OUT, "text_encoder_2")).float().eval()
    worst = 0.0
    for seed in (0, 3, 11, 12345):
        prompt = scenes.scene(seed, 64)[1]
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "e.safetensors")
            subprocess.run([resdit, "encode-text", "--clip", OUT, "--t5", OUT, "--prompt", prompt,
                            "--t5-length", str(T5_LEN), "--backend", "cpu", "-o", out], check=True)
            got = load_file(out)
        ci = clip_tok(prompt, padding="max_length", max_length=77, truncation=True,
                      return_tensors="pt").input_ids
        ti = t5_tok(prompt, padding="max_length", max_length=T5_LEN, truncation=True,
                    return_tensors="pt").input_ids
        assert torch.equal(got["clip_ids"].long().view(-1), ci.view(-1)), (prompt, got["clip_ids"], ci)
        assert torch.equal(got["t5_ids"].long().view(-1), ti.view(-1)), (prompt, got["t5_ids"], ti)
        with torch.no_grad():
            vec = clip(ci).pooler_output
            txt = t5(ti).last_hidden_state
        for name, ref in (("vec", vec), ("txt", txt)):
            rel = ((got[name].float().view(-1) - ref.view(-1)).norm() / ref.norm()).item()
            worst = max(worst, rel)
            print(f"seed {seed} {name}: relative L2 {rel:.2e}")
    print(f"token ids equal; worst relative L2 {worst:.2e}")
    assert worst < 1e-3


if __name__ == "__main__":
    main()
