#!/usr/bin/env python3
"""Golden files for SD3's text conditioning (engine/text/sd3_text.c), from diffusers 0.32.2's
StableDiffusion3Pipeline.encode_prompt on tiny random encoders.

Writes under tests/data/sd3-text/:
  tiny/                  a diffusers SD3 root without the transformer and VAE weights:
                         text_encoder/ (CLIP-L-like CLIPTextModelWithProjection, quick_gelu,
                         pooled at the first EOS), text_encoder_2/ (CLIP-G-like, gelu, 3 layers,
                         pooled at argmax(ids) as SD3's config says), text_encoder_3/ (tiny
                         T5EncoderModel), tokenizer/ (pad = EOS), tokenizer_2/ (the same BPE,
                         pad "!" = id 0, as SD3's tokenizer_2). The T5 tokenizer is the FLUX text
                         goldens' one (tests/data/text/tiny/tokenizer_2), not copied here.
  sd3-text-tiny.bundled.safetensors   the three encoders as Stability bundles them in
                         sd3.5_large.safetensors (text_encoders.clip_l.transformer.,
                         text_encoders.clip_g.transformer., text_encoders.t5xxl.transformer.)
  clip_g.safetensors, clip_l.safetensors  ComfyUI's separate files (transformers names:
                         text_model.*, text_projection.weight)
  goldens.safetensors    per case <case>.txt [77 + L, 48], <case>.vec [40], .neg_txt, .neg_vec
                         (but "default", whose negative is "long"'s at another length), <case>.vec_bundled, .neg_vec_bundled (CLIP-L projection = identity, as
                         diffusers' single-file loader builds it for a bundled checkpoint)
  cases.json             prompt, negative, max_sequence_length, t5 present, per case

Every weight is rounded to float16 before anything is computed and stored as float16, so that
the files hold exactly the weights the reference ran with (f32 arithmetic).

Deterministic: fixed seeds, one thread. Run with the reference venv (tools/reference/README.md):
  ~/.cache/resdit-ref/bin/python tools/reference/make_sd3_text_goldens.py
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
from diffusers import (FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel,
                       StableDiffusion3Pipeline)
from safetensors.numpy import save_file
from transformers import (CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer, T5Config,
                          T5EncoderModel, T5TokenizerFast)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_text_goldens import write_clip_tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "sd3-text")
T5_TOKENIZER = os.path.join(ROOT, "tests", "data", "text", "tiny", "tokenizer_2")
CLIP_MERGES = 60  # a small vocabulary: 574 tokens

L_HIDDEN, G_HIDDEN, T5_DIM = 16, 24, 48  # 16 + 24 = 40 < 48: the CLIP part is zero-padded

CASES = [
    # name, prompt, negative (None: diffusers' default ""), max_sequence_length, with T5
    ("cat", "a photo of a cat wearing a tiny astronaut helmet, 35mm, soft light",
     "blurry, low quality", 32, True),
    ("long", "Ｆｕｌｌｗｉｄｔｈ ﬁne café " + "very long prompt words " * 10, None, 24, True),
    ("empty", "", "ugly", 32, True),
    ("no_t5", "a red fox in the snow", "cartoon", 256, False),
    ("default", "a castle on a hill at sunset", None, 256, True),
]


def randomize(model, seed, scale=0.05):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():  # LayerNorms start at 1/0: make every weight matter
            p.add_(torch.randn_like(p) * scale)
            p.copy_(p.half().float())  # the stored weights are f16: compute with those
    return model.eval()


def tiny_clip(vocab, bos, eos, hidden, heads, layers, act, eos_id, proj, seed):
    cfg = CLIPTextConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads,
                         max_position_embeddings=77, hidden_act=act, layer_norm_eps=1e-5,
                         bos_token_id=bos, eos_token_id=eos_id, pad_token_id=1,
                         projection_dim=proj)
    torch.manual_seed(seed)
    model = CLIPTextModelWithProjection(cfg)
    randomize(model, seed + 100)
    with torch.no_grad():  # a projection of order one, so that the pooled output depends on it
        model.text_projection.weight.copy_(
            (torch.randn_like(model.text_projection.weight) / hidden ** 0.5).half().float())
    return model


def tiny_t5(vocab):
    cfg = T5Config(vocab_size=vocab, d_model=T5_DIM, d_kv=8, d_ff=40, num_layers=2, num_heads=4,
                   relative_attention_num_buckets=32, relative_attention_max_distance=128,
                   feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6, dropout_rate=0.0,
                   is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False,
                   decoder_start_token_id=0)
    torch.manual_seed(5)
    return randomize(T5EncoderModel(cfg), 6)


def tiny_transformer():
    """Only its config is read by encode_prompt (joint_attention_dim when T5 is absent)."""
    torch.manual_seed(7)
    return SD3Transformer2DModel(sample_size=8, patch_size=2, in_channels=4, num_layers=1,
                                 attention_head_dim=8, num_attention_heads=2,
                                 joint_attention_dim=T5_DIM, caption_projection_dim=16,
                                 pooled_projection_dim=L_HIDDEN + G_HIDDEN, out_channels=4,
                                 pos_embed_max_size=8)


def write_tokenizer_config(folder, pad):
    """model_max_length 77, as every CLIP tokenizer_config.json says: diffusers pads to it."""
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "CLIPTokenizer", "model_max_length": 77,
                   "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                   "unk_token": "<|endoftext|>", "pad_token": pad}, f, indent=1)


def write_g_tokenizer(folder, tmp):
    """SD3's tokenizer_2: CLIP's BPE padded with "!" (id 0), special tokens as dicts."""
    write_clip_tokenizer(folder, CLIP_MERGES)
    def tok(text):
        return {"content": text, "lstrip": False, "normalized": True, "rstrip": False,
                "single_word": False}
    special = {"bos_token": tok("<|startoftext|>"), "eos_token": tok("<|endoftext|>"),
               "pad_token": tok("!"), "unk_token": tok("<|endoftext|>")}
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    write_tokenizer_config(folder, "!")
    return CLIPTokenizer.from_pretrained(folder)


def save_with_metadata(tensors, path, metadata):
    """safetensors.torch.save_file orders "__metadata__" by a hash map, so the bytes change from run
    to run; this writes the same format with a fixed order."""
    header, offset, blobs = {"__metadata__": dict(sorted(metadata.items()))}, 0, []
    for name in sorted(tensors):
        t = tensors[name]
        assert t.dtype == torch.float16
        data = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": "F16", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def half_state(model, prefix, skip=()):
    return {prefix + k: v.half().contiguous() for k, v in model.state_dict().items()
            if k not in skip}


def write_models(clip_l, clip_g, t5):
    root = os.path.join(OUT, "tiny")
    for name, model in (("text_encoder", clip_l), ("text_encoder_2", clip_g),
                        ("text_encoder_3", t5)):
        model.half().save_pretrained(os.path.join(root, name), safe_serialization=True)
        model.float()
    with open(os.path.join(root, "model_index.json"), "w") as f:
        json.dump({"_class_name": "StableDiffusion3Pipeline", "_diffusers_version": "0.32.2",
                   "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
                   "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
                   "text_encoder_3": ["transformers", "T5EncoderModel"],
                   "tokenizer": ["transformers", "CLIPTokenizer"],
                   "tokenizer_2": ["transformers", "CLIPTokenizer"],
                   "tokenizer_3": ["transformers", "T5TokenizerFast"]}, f, indent=1)
    t5_skip = ("encoder.embed_tokens.weight",)  # tied to shared.weight
    bundled = {}
    bundled.update(half_state(clip_l, "text_encoders.clip_l.transformer."))
    bundled.update(half_state(clip_g, "text_encoders.clip_g.transformer."))
    bundled.update(half_state(t5, "text_encoders.t5xxl.transformer.", t5_skip))
    # What the tensors cannot tell for these tiny shapes (real files: heads 64 wide, gelu for
    # OpenCLIP's 1280), in the metadata the C loader reads for single files.
    save_with_metadata(bundled, os.path.join(OUT, "sd3-text-tiny.bundled.safetensors"),
                       {"clip_l_num_attention_heads": "2",
                        "clip_g_num_attention_heads": "3", "clip_g_hidden_act": "gelu"})
    save_with_metadata(half_state(clip_l, ""), os.path.join(OUT, "clip_l.safetensors"),
                       {"clip_num_attention_heads": "2"})
    save_with_metadata(half_state(clip_g, ""), os.path.join(OUT, "clip_g.safetensors"),
                       {"clip_num_attention_heads": "3", "clip_hidden_act": "gelu"})


def main():
    torch.set_num_threads(1)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    root = os.path.join(OUT, "tiny")
    with tempfile.TemporaryDirectory() as tmp:
        write_clip_tokenizer(os.path.join(root, "tokenizer"), CLIP_MERGES)
        write_tokenizer_config(os.path.join(root, "tokenizer"), "<|endoftext|>")
        tok_l = CLIPTokenizer.from_pretrained(os.path.join(root, "tokenizer"))
        tok_g = write_g_tokenizer(os.path.join(root, "tokenizer_2"), tmp)
    tok_t5 = T5TokenizerFast.from_pretrained(T5_TOKENIZER)
    assert tok_g.pad_token_id == 0 and tok_g.pad_token_id != tok_g.eos_token_id
    assert tok_l.pad_token_id == tok_l.eos_token_id
    vocab = len(tok_l)
    clip_l = tiny_clip(vocab, tok_l.bos_token_id, tok_l.eos_token_id, L_HIDDEN, 2, 2,
                       "quick_gelu", tok_l.eos_token_id, L_HIDDEN, 11)
    clip_g = tiny_clip(vocab, tok_g.bos_token_id, tok_g.eos_token_id, G_HIDDEN, 3, 3, "gelu",
                       2, G_HIDDEN, 21)  # eos_token_id 2: pooled at argmax(ids), as SD3's config
    t5 = tiny_t5(len(tok_t5))
    write_models(clip_l, clip_g, t5)

    sched = FlowMatchEulerDiscreteScheduler(shift=3.0)
    pipes = {}
    for with_t5 in (True, False):
        pipes[with_t5] = StableDiffusion3Pipeline(
            transformer=tiny_transformer(), scheduler=sched, vae=None, text_encoder=clip_l,
            tokenizer=tok_l, text_encoder_2=clip_g, tokenizer_2=tok_g,
            text_encoder_3=t5 if with_t5 else None, tokenizer_3=tok_t5 if with_t5 else None)
    eye_l = CLIPTextModelWithProjection(clip_l.config)
    eye_l.load_state_dict(clip_l.state_dict())
    with torch.no_grad():
        eye_l.text_projection.weight.copy_(torch.eye(L_HIDDEN))
    eye_l.eval()

    g, cases = {}, []
    with torch.no_grad():
        for name, prompt, negative, length, with_t5 in CASES:
            pipe = pipes[with_t5]
            txt, neg_txt, vec, neg_vec = pipe.encode_prompt(
                prompt=prompt, prompt_2=None, prompt_3=None, device="cpu",
                do_classifier_free_guidance=True, negative_prompt=negative,
                max_sequence_length=length)
            clip_rows = 77
            t5_rows = length if with_t5 else 77
            assert txt.shape == (1, clip_rows + t5_rows, T5_DIM), txt.shape
            assert vec.shape == (1, L_HIDDEN + G_HIDDEN)
            g[f"{name}.txt"] = txt[0].numpy()
            g[f"{name}.vec"] = vec[0].numpy()
            if name != "default":  # its negative is the empty one of "long": kept small
                g[f"{name}.neg_txt"] = neg_txt[0].numpy()
                g[f"{name}.neg_vec"] = neg_vec[0].numpy()
            for tag, text, pooled in (("vec", prompt, vec), ("neg_vec", negative or "", neg_vec)):
                if tag == "neg_vec" and name == "default":
                    continue
                ids = tok_l(text, padding="max_length", max_length=77, truncation=True,
                            return_tensors="pt").input_ids
                bundled_l = eye_l(ids).text_embeds[0]
                g[f"{name}.{tag}_bundled"] = torch.cat([bundled_l, pooled[0, L_HIDDEN:]]).numpy()
            full_l = tok_l(prompt)["input_ids"]
            full_t5 = tok_t5(prompt)["input_ids"]
            cases.append({"name": name, "prompt": prompt, "negative": negative,
                          "max_sequence_length": length, "t5": with_t5,
                          "clip_dropped": max(0, len(full_l) - 77),
                          "t5_dropped": max(0, len(full_t5) - length) if with_t5 else 0})
        # the argument the C test checks first: CLIP-G's ids padded with "!", CLIP-L's with EOS
        g["cat.ids_l"] = tok_l(CASES[0][1], padding="max_length", max_length=77,
                               return_tensors="np").input_ids[0].astype(np.int64)
        g["cat.ids_g"] = tok_g(CASES[0][1], padding="max_length", max_length=77,
                               return_tensors="np").input_ids[0].astype(np.int64)
    save_file({k: np.ascontiguousarray(v, dtype=v.dtype) for k, v in g.items()},
              os.path.join(OUT, "goldens.safetensors"))
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
    print("vocab", vocab, "; cases", [(c["name"], c["clip_dropped"], c["t5_dropped"])
                                       for c in cases])


if __name__ == "__main__":
    main()
