"""Trains the ResDiT demo model on the procedural scenes (tools/demo/scenes.py) and exports it
as a diffusers folder the engine loads: data/models/resdit-demo/.

Everything is a FLUX-architecture part at toy size, trained on the CPU:
  tokenizers   tokenizer/ (CLIP BPE: the first merges of the bundled CLIP vocabulary, so the
               CLIP embedding stays small) and tokenizer_2/ (our own SentencePiece unigram
               vocabulary trained on the captions, saved as T5 ships it)
  vae          AutoencoderKL, 16 latent channels, 3 downsamplings (FLUX's factor 8), trained with
               L1 + a small KL on random crops of scenes
  latents      the VAE's latent means of N scenes at 256 px, cached with their captions; the
               latent shift and scale (as FLUX's shift_factor / scaling_factor) from their stats
  transformer  FluxTransformer2DModel (no guidance embedder) with a tiny CLIPTextModel and
               T5EncoderModel, trained together with rectified flow (FLUX's convention:
               x_t = (1 - t) x0 + t noise, target noise - x0), at 16 x 16 tokens only
  export       f16 safetensors + configs into the model folder (EMA weights)
  from-model   a work folder from an exported model (--from DIR, default the committed one):
               its tokenizers, its VAE and its transformer + text encoders as transformer.pt,
               so that latents / sizes / transformer --resume run without the earlier phases
               (on a machine with a GPU: --device cuda)
  sample       Euler samples at 256 px from the exported weights, as a PNG grid (a check)

Work files go to $RESDIT_DEMO_WORK (default ~/.cache/resdit-demo-work), never the repository.
Every phase is seeded; wall times are bounded with --minutes, so the number of steps depends on
the machine (the README of the model folder records what the committed weights took).

  python tools/demo/train_demo.py all --vae-minutes 12 --count 4000 --minutes 50
"""

import argparse
import gzip
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import scenes  # noqa: E402

DEVICE = torch.device("cpu")  # --device: where the VAE encodes and the transformer trains
WORK = os.environ.get("RESDIT_DEMO_WORK", os.path.expanduser("~/.cache/resdit-demo-work"))
OUT = os.environ.get("RESDIT_DEMO_OUT", os.path.join(ROOT, "data", "models", "resdit-demo"))
BUNDLED_MERGES = os.path.join(ROOT, "data", "tokenizers", "clip", "merges.txt.gz")

BASE = 256            # base size in pixels: 32 x 32 latent, 16 x 16 tokens
T5_LEN = 32           # T5 tokens per caption (the model's default length)
STEPS = 16            # default sampling steps
CLIP_VOCAB = 2048     # 512 byte tokens + merges + 2 specials
T5_PIECES = 128

VAE_CONFIG = dict(
    in_channels=3, out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[8, 16, 32, 32], layers_per_block=1, act_fn="silu",
    latent_channels=16, norm_num_groups=4, sample_size=BASE,
    use_quant_conv=False, use_post_quant_conv=False, mid_block_add_attention=True,
)
FLUX_CONFIG = dict(
    patch_size=1, in_channels=64, num_layers=2, num_single_layers=3,
    attention_head_dim=48, num_attention_heads=2, joint_attention_dim=64,
    pooled_projection_dim=32, guidance_embeds=False, axes_dims_rope=(8, 20, 20),
)


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def work(*p):
    return os.path.join(WORK, *p)


# ---- tokenizers ---------------------------------------------------------------------------

def clip_vocab(merges):
    """CLIP's vocabulary order: byte characters, the same with </w>, merges, specials."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) +
          list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_chars = [chr(c) for c in cs]
    vocab = byte_chars + [c + "</w>" for c in byte_chars]
    vocab += ["".join(m.split(" ")) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(vocab)}


def phase_tokenizers(args):
    import sentencepiece as spm
    from transformers import T5Tokenizer, T5TokenizerFast
    tok_dir = work("tokenizer")
    t5_dir = work("tokenizer_2")
    for d in (tok_dir, t5_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    with gzip.open(BUNDLED_MERGES, "rt", encoding="utf-8") as f:
        merges = f.read().split("\n")[1:1 + CLIP_VOCAB - 514]
    with open(os.path.join(tok_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(clip_vocab(merges), f, ensure_ascii=False)
    with open(os.path.join(tok_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
               "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    with open(os.path.join(tok_dir, "special_tokens_map.json"), "w") as f:
        json.dump(special, f)
    with open(os.path.join(tok_dir, "tokenizer_config.json"), "w") as f:
        json.dump(dict(special, model_max_length=77, tokenizer_class="CLIPTokenizer"), f)

    captions = [scenes.scene(s, 64)[1] for s in range(20000, 24000)]
    # The captions alone are so repetitive that the unigram trainer keeps fragments of words;
    # lines of the same words in random order give it whole words.
    words = sorted({w.strip(",") for c in captions for w in c.split()})
    rng = np.random.default_rng(7)
    lines = captions + [" ".join(rng.choice(words, 8)) for _ in range(4000)]
    tmp = tempfile.mkdtemp(prefix="resdit-demo-spm")
    text = os.path.join(tmp, "captions.txt")
    with open(text, "w") as f:
        f.write("\n".join(lines) + "\n")
    spm.SentencePieceTrainer.train(
        input=text, model_prefix=os.path.join(tmp, "spiece"), vocab_size=T5_PIECES,
        model_type="unigram", normalization_rule_name="nmt_nfkc", character_coverage=1.0,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>",
        unk_piece="<unk>", num_threads=1, hard_vocab_limit=False, minloglevel=2)
    shutil.copy(os.path.join(tmp, "spiece.model"), os.path.join(t5_dir, "spiece.model"))
    shutil.rmtree(tmp)
    slow = T5Tokenizer(os.path.join(t5_dir, "spiece.model"), extra_ids=100, legacy=True)
    fast = T5TokenizerFast(__slow_tokenizer=slow, vocab_file=None, extra_ids=100, legacy=True,
                           from_slow=True)
    fast.save_pretrained(t5_dir)
    clip, t5 = load_tokenizers()
    longest = max(len(t5(c)["input_ids"]) for c in captions)
    log(f"tokenizers: CLIP vocab {len(clip)}, T5 vocab {len(t5)}, longest caption {longest} T5 "
        f"tokens (length {T5_LEN})")
    assert longest <= T5_LEN


def load_tokenizers():
    from transformers import CLIPTokenizer, T5TokenizerFast
    clip = CLIPTokenizer(work("tokenizer", "vocab.json"), work("tokenizer", "merges.txt"),
                         pad_token="<|endoftext|>")
    t5 = T5TokenizerFast.from_pretrained(work("tokenizer_2"))
    return clip, t5


# ---- VAE ----------------------------------------------------------------------------------

def to_tensor(img):
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)


def new_vae():
    from diffusers import AutoencoderKL
    return AutoencoderKL(**VAE_CONFIG)


# --vae-multiscale: every other step trains on crops of scenes drawn at these sizes, so that the
# encoder learns flat regions wider than its receptive field (a 4x sky, the inside of a 4x sun).
# Trained on base-size scenes alone, the VAE leaves their colour to the decoder, which guesses it
# from the edges it sees: the committed VAE turns a 1024 px sun into a band (eval_vae.py).
VAE_SCALES = [256, 384, 512, 768, 1024]
VAE_SCALE_CROP, VAE_SCALE_BATCH = 128, 8


def vae_images(rng, seed, step, args, crop, batch):
    """(batch of images, next seed): base-size crops, or with --vae-multiscale on even steps
    crops of one scene size from VAE_SCALES."""
    size = BASE
    if args.vae_multiscale and step % 2 == 0:
        size, crop, batch = int(rng.choice(VAE_SCALES)), VAE_SCALE_CROP, VAE_SCALE_BATCH
    xs = []
    for _ in range(batch):
        img = to_tensor(scenes.scene(seed, size)[0])
        seed += 1
        y, x = rng.integers(0, size - crop + 1, size=2)
        xs.append(img[:, y:y + crop, x:x + crop])
    return torch.stack(xs), seed


def phase_vae(args):
    torch.manual_seed(1)
    vae = new_vae()
    lr0 = 2e-3
    done = dict(steps=0, seconds=0)
    if args.resume:  # continue a saved VAE at a lower rate (seeds move on past its scenes)
        from diffusers import AutoencoderKL
        vae = AutoencoderKL.from_pretrained(work("vae"))
        with open(work("vae", "train.json")) as f:
            done = json.load(f)
        lr0 = 1e-3
    vae = vae.to(DEVICE)
    opt = torch.optim.AdamW(vae.parameters(), lr=lr0, weight_decay=0.0)
    rng = np.random.default_rng(2)
    crop, batch = (BASE, 3) if args.resume else (96, 8)  # full scenes: GroupNorm and the
    # mid-block attention see whole pictures, as when the engine decodes
    start, step, seed = time.time(), 0, 1_000_000 + 8 * done["steps"]
    limit = args.vae_minutes * 60
    ema = None
    while time.time() - start < limit:
        frac = (time.time() - start) / limit
        for g in opt.param_groups:
            g["lr"] = lr0 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        x, seed = vae_images(rng, seed, step, args, crop, batch)
        x = x.to(DEVICE)
        post = vae.encode(x).latent_dist
        z = post.sample()
        rec = vae.decode(z).sample
        # Suns and moons are a few hundred pixels of a scene: weighted 20x (the pixels the sun
        # detector counts), or the VAE learns the background first and their colours last.
        px = (x + 1) * 127.5
        sunny = scenes.sun_pixels(px[:, 0], px[:, 1], px[:, 2])
        weight = 1 + 19 * sunny.float()[:, None]
        l1 = ((rec - x).abs() * weight).mean() / weight.mean()
        kl = post.kl().mean() / z[0].numel()
        loss = l1 + 1e-4 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        ema = l1.item() if ema is None else 0.95 * ema + 0.05 * l1.item()
        if step % 25 == 0:
            log(f"vae step {step} l1 {ema:.4f} kl/elem {kl.item():.3f} "
                f"({(time.time() - start) / step:.2f} s/step)")
    os.makedirs(WORK, exist_ok=True)
    vae.save_pretrained(work("vae"))
    with open(work("vae", "train.json"), "w") as f:
        json.dump(dict(steps=done["steps"] + step, seconds=done["seconds"] + time.time() - start,
                       l1=ema, batch=batch, crop=crop, resumed=bool(args.resume),
                       multiscale=bool(args.vae_multiscale)), f)
    log(f"vae: {step} steps, l1 {ema:.4f}")


# ---- latents ------------------------------------------------------------------------------

@torch.no_grad()
def phase_latents(args):
    from diffusers import AutoencoderKL
    vae = AutoencoderKL.from_pretrained(work("vae")).float().to(DEVICE).eval()
    lat, caps = [], []
    start = time.time()
    for i in range(0, args.count, 16):
        seeds = range(i, min(args.count, i + 16))
        imgs = [scenes.scene(s, BASE) for s in seeds]
        x = torch.stack([to_tensor(im) for im, _, _ in imgs]).to(DEVICE)
        with torch.no_grad():
            lat.append(vae.encode(x).latent_dist.mean.to(torch.float16).cpu())
        caps += [c for _, c, _ in imgs]
        if (i // 16) % 25 == 0:
            log(f"latents {i + len(seeds)}/{args.count} ({time.time() - start:.0f} s)")
    lat = torch.cat(lat)
    shift = lat.float().mean().item()
    scale = 1.0 / (lat.float() - shift).std().item()
    torch.save(dict(latents=lat, captions=caps, shift=shift, scale=scale), work("latents.pt"))
    x = torch.stack([to_tensor(scenes.scene(s, BASE)[0]) for s in range(4)]).to(DEVICE)
    with torch.no_grad():
        rec = vae.decode(vae.encode(x).latent_dist.mean).sample
    log(f"latents: {len(caps)}, shift {shift:.4f}, scale {scale:.4f}, "
        f"recon l1 {(rec - x).abs().mean().item():.4f}")


# Other sizes (height, width in px) for multi-size training: FLUX learned many sizes and aspect
# ratios; a model that saw one grid only breaks on any other (bench/RESULTS.md, 2026-12-04).
SIZES = [(192, 192), (320, 320), (384, 384), (512, 512), (256, 384), (384, 256), (192, 320),
         (320, 192)]


def phase_sizes(args):
    """The VAE latents of --count scenes at each of SIZES (seeds apart from the base set's)."""
    from diffusers import AutoencoderKL
    vae = AutoencoderKL.from_pretrained(work("vae")).float().to(DEVICE).eval()
    out = {}
    start = time.time()
    for k, (h, w) in enumerate(SIZES):
        lat, caps = [], []
        first = 1000000 * (k + 1)
        for i in range(0, args.count, 8):
            seeds = range(first + i, first + min(args.count, i + 8))
            imgs = [scenes.scene(s, h, w) for s in seeds]
            x = torch.stack([to_tensor(im) for im, _, _ in imgs]).to(DEVICE)
            with torch.no_grad():
                lat.append(vae.encode(x).latent_dist.mean.to(torch.float16).cpu())
            caps += [c for _, c, _ in imgs]
        out[(h, w)] = dict(latents=torch.cat(lat), captions=caps)
        log(f"sizes {h} x {w}: {len(caps)} scenes ({time.time() - start:.0f} s)")
    torch.save(out, work("latents-sizes.pt"))


# ---- transformer + text encoders ----------------------------------------------------------

def new_text_encoders(clip_tok, t5_tok):
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel
    eos = clip_tok.convert_tokens_to_ids("<|endoftext|>")
    bos = clip_tok.convert_tokens_to_ids("<|startoftext|>")
    clip = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(clip_tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
        projection_dim=32, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos))
    t5 = T5EncoderModel(T5Config(
        vocab_size=len(t5_tok), d_model=64, d_kv=32, d_ff=128, num_layers=2, num_heads=2,
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu", dropout_rate=0.0, is_gated_act=True,
        dense_act_fn="gelu_new", tie_word_embeddings=False))
    return clip, t5


def encode_text(clip_tok, t5_tok, clip, t5, captions):
    ci = clip_tok(captions, padding="max_length", max_length=77, truncation=True,
                  return_tensors="pt").input_ids.to(DEVICE)
    ti = t5_tok(captions, padding="max_length", max_length=T5_LEN, truncation=True,
                return_tensors="pt").input_ids.to(DEVICE)
    vec = clip(ci).pooler_output
    txt = t5(ti).last_hidden_state
    return txt, vec


def pack(lat):
    """[B, 16, H, W] -> [B, H/2 * W/2, 64], FLUX's 2 x 2 patchify (feature c*4 + py*2 + px)."""
    b, c, h, w = lat.shape
    return lat.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, -1, c * 4)


def unpack(tok, h, w):
    b = tok.shape[0]
    return tok.view(b, h // 2, w // 2, 16, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, 16, h, w)


def img_ids(rows, cols, scale=1.0):
    """Token positions; scale < 1 spaces them as PES does (the grid mapped onto a smaller one)."""
    ids = torch.zeros(rows, cols, 3)
    ids[..., 1] = torch.arange(rows)[:, None] * scale
    ids[..., 2] = torch.arange(cols)[None, :] * scale
    return ids.reshape(-1, 3)


def pes_scale(rows, cols):
    """PES's factor for a grid: onto the base grid's area (16 x 16 tokens), never above 1."""
    return min(1.0, math.sqrt((BASE // 16) ** 2 / (rows * cols)))


class Demo(torch.nn.Module):
    def __init__(self, clip_tok, t5_tok):
        super().__init__()
        from diffusers import FluxTransformer2DModel
        self.clip, self.t5 = new_text_encoders(clip_tok, t5_tok)
        self.flux = FluxTransformer2DModel(**FLUX_CONFIG)

    def forward(self, x, t, txt, vec, rows, cols, scale=1.0):
        return self.flux(hidden_states=x, timestep=t, encoder_hidden_states=txt,
                         pooled_projections=vec, txt_ids=torch.zeros(txt.shape[1], 3, device=x.device),
                         img_ids=img_ids(rows, cols, scale).to(x.device), return_dict=False)[0]


def crop_windows(lat, g):
    """A 32 x 32 latent window (16 x 16 tokens) of each latent, at an even offset of its own."""
    _, _, h, w = lat.shape
    out = []
    for i in range(lat.shape[0]):
        y = 2 * int(torch.randint(0, (h - 32) // 2 + 1, (1,), generator=g))
        x = 2 * int(torch.randint(0, (w - 32) // 2 + 1, (1,), generator=g))
        out.append(lat[i, :, y:y + 32, x:x + 32])
    return torch.stack(out)


def cpu_state(state):
    return {k: v.detach().cpu() for k, v in state.items()}


def phase_from_model(args):
    """A work folder from an exported model folder: its tokenizers, its VAE (with a train.json
    naming the folder) and transformer.pt (its transformer and text encoders, counted as step
    0), for latents / sizes / transformer --resume."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextModel, T5EncoderModel
    src = args.source
    for name in ("tokenizer", "tokenizer_2"):
        shutil.rmtree(work(name), ignore_errors=True)
        shutil.copytree(os.path.join(src, name), work(name))
    vae_src = args.vae or os.path.join(src, "vae")  # --vae: a candidate VAE instead
    vae = AutoencoderKL.from_pretrained(vae_src).float()
    vae.save_pretrained(work("vae"))
    with open(work("vae", "train.json"), "w") as f:
        json.dump(dict(steps=0, seconds=0, l1=float("nan"), source=vae_src), f)
    clip_tok, t5_tok = load_tokenizers()
    model = Demo(clip_tok, t5_tok)
    model.flux = FluxTransformer2DModel.from_pretrained(os.path.join(src, "transformer")).float()
    model.clip = CLIPTextModel.from_pretrained(os.path.join(src, "text_encoder")).float()
    model.t5 = T5EncoderModel.from_pretrained(os.path.join(src, "text_encoder_2")).float()
    torch.save(dict(ema=cpu_state(model.state_dict()), step=0), work("transformer.pt"))
    log(f"work folder {WORK} made from {src}")


def phase_transformer(args):
    torch.manual_seed(3)
    clip_tok, t5_tok = load_tokenizers()
    data = torch.load(work("latents.pt"))
    lat = (data["latents"].float() - data["shift"]) * data["scale"]
    caps = data["captions"]
    n = lat.shape[0]
    buckets = [(lat, caps)]
    if args.sizes_share > 0:  # other sizes, normalised like the base set
        for (h, w), d in torch.load(work("latents-sizes.pt")).items():
            buckets.append(((d["latents"].float() - data["shift"]) * data["scale"], d["captions"]))
    model = Demo(clip_tok, t5_tok)
    done = 0
    if args.resume:  # continue the saved EMA weights (a fresh optimiser warms up again)
        saved = torch.load(work("transformer.pt"), map_location="cpu")
        model.load_state_dict(saved["ema"])
        done = saved["step"]
        g_seed = 4 + done  # new batches, not a replay of the first run's
    model.to(DEVICE)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"transformer + text: {n_params / 1e6:.2f} M parameters, {n} latents")
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(g_seed if args.resume else 4)
    start, step, avg = time.time(), 0, None
    limit = args.minutes * 60
    history = []
    while time.time() - start < limit:
        frac = (time.time() - start) / limit
        lr = args.lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for pg in opt.param_groups:
            pg["lr"] = lr
        b_lat, b_caps = buckets[0]
        if len(buckets) > 1 and torch.rand(1, generator=g).item() < args.sizes_share:
            b_lat, b_caps = buckets[1 + int(torch.randint(0, len(buckets) - 1, (1,), generator=g))]
        rows, cols = b_lat.shape[2] // 2, b_lat.shape[3] // 2
        # a base-size window of a larger scene with the base grid's own positions: what PIPE
        # shows the model in ResDiT's local steps (a part of a picture, not a whole one)
        crop = (args.crop_share > 0 and rows * cols > 256 and min(rows, cols) >= 16 and
                torch.rand(1, generator=g).item() < args.crop_share)
        batch = max(2, args.batch * 256 // (256 if crop else rows * cols))  # same tokens per step
        idx = torch.randint(0, b_lat.shape[0], (batch,), generator=g)
        x0 = b_lat[idx]
        if crop:
            x0 = crop_windows(x0, g)
            rows = cols = 16
        flip = torch.rand(batch, generator=g) < 0.5  # a mirrored scene fits its caption
        x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
        noise = torch.randn(x0.shape, generator=g)
        t = torch.sigmoid(torch.randn(batch, generator=g))  # logit-normal, as SD3/FLUX
        x0, noise, t = x0.to(DEVICE), noise.to(DEVICE), t.to(DEVICE)  # batches drawn on the CPU
        xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * noise
        captions = [b_caps[i] for i in idx]
        if args.caption_dropout > 0:  # the empty prompt's velocity, for classifier-free guidance
            drop = torch.rand(batch, generator=g) < args.caption_dropout
            captions = ["" if d else c for c, d in zip(captions, drop.tolist())]
        txt, vec = encode_text(clip_tok, t5_tok, model.clip, model.t5, captions)
        scale = 1.0
        if rows * cols > 256 and torch.rand(1, generator=g).item() < args.pes_share:
            scale = pes_scale(rows, cols)
        v = model(pack(xt), t, txt, vec, rows, cols, scale)
        loss = torch.nn.functional.mse_loss(v, pack(noise - x0))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v_ in model.state_dict().items():
                if v_.dtype.is_floating_point:
                    ema[k].mul_(decay).add_(v_, alpha=1 - decay)
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        if step % 20 == 0:
            el = time.time() - start
            history.append((step, round(el), round(avg, 4)))
            log(f"step {step} loss {avg:.4f} lr {lr:.2e} ({el / step:.2f} s/step, {el / 60:.1f} min)")
        if step % 200 == 0:
            torch.save(dict(ema=cpu_state(ema), step=done + step), work("transformer.pt"))
    torch.save(dict(ema=cpu_state(ema), step=done + step), work("transformer.pt"))
    with open(work("transformer_train.json"), "w") as f:
        json.dump(dict(steps=done + step, resumed_from=done, seconds=round(time.time() - start), batch=args.batch,
                       lr=args.lr, final_loss=avg, history=history, latents=n,
                       sizes_share=args.sizes_share, pes_share=args.pes_share,
                       crop_share=args.crop_share, caption_dropout=args.caption_dropout,
                       sizes=[list(hw) for hw in SIZES] if args.sizes_share > 0 else [],
                       sizes_count=len(buckets[1][1]) if len(buckets) > 1 else 0), f)
    log(f"transformer: {step} steps, loss {avg:.4f}")


# ---- export and sampling ------------------------------------------------------------------

def phase_export(args):
    from diffusers import AutoencoderKL
    clip_tok, t5_tok = load_tokenizers()
    data = torch.load(work("latents.pt"))
    model = Demo(clip_tok, t5_tok)
    model.load_state_dict(torch.load(work("transformer.pt"), map_location="cpu")["ema"])
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    half = dict(safe_serialization=True)
    model.flux.to(torch.float16).save_pretrained(os.path.join(OUT, "transformer"), **half)
    model.clip.to(torch.float16).save_pretrained(os.path.join(OUT, "text_encoder"), **half)
    model.t5.to(torch.float16).save_pretrained(os.path.join(OUT, "text_encoder_2"), **half)
    vae = AutoencoderKL.from_pretrained(work("vae"))
    vae.register_to_config(scaling_factor=data["scale"], shift_factor=data["shift"])
    vae.to(torch.float16).save_pretrained(os.path.join(OUT, "vae"), **half)
    shutil.copytree(work("tokenizer"), os.path.join(OUT, "tokenizer"))
    shutil.copytree(work("tokenizer_2"), os.path.join(OUT, "tokenizer_2"))
    index = {
        "_class_name": "FluxPipeline", "_diffusers_version": "0.32.2",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "T5EncoderModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "FluxTransformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    with open(os.path.join(OUT, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    resdit = {"base_size": BASE, "default_steps": STEPS, "t5_length": T5_LEN,
              "default_prompt": "a yellow sun in a blue sky over green hills by a lake, "
                                "two houses with red roofs, three trees"}
    with open(work("transformer_train.json")) as f:
        tr = json.load(f)
    if tr.get("caption_dropout", 0) > 0:  # it knows the empty prompt: guide with it
        resdit.update(guidance="cfg", default_guidance=args.cfg_scale)
    with open(os.path.join(OUT, "resdit.json"), "w") as f:
        json.dump(resdit, f, indent=2)
        f.write("\n")
    for root, _, files in os.walk(OUT):  # diffusers' configs carry no machine paths; drop extras
        for name in files:
            if name in ("generation_config.json",):
                os.remove(os.path.join(root, name))
    write_readme(data, tr, args)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    log(f"exported to {OUT}: {total / 1e6:.2f} MB")


LICENSE_TEXT = """The weights, configurations and tokenizer files in this folder (the ResDiT Studio demo
model) were made by ResDiT Studio's tools/demo/train_demo.py from procedurally drawn scenes
(tools/demo/scenes.py); no third-party images or weights went into them, except that
tokenizer/merges.txt and tokenizer/vocab.json are the first merges of OpenAI's CLIP BPE
vocabulary (MIT licence, see data/tokenizers/NOTICE).

To the extent possible under law, the ResDiT Studio authors have waived all copyright and
related or neighboring rights to the weights and configurations in this folder, under the
Creative Commons CC0 1.0 Universal Public Domain Dedication:
https://creativecommons.org/publicdomain/zero/1.0/legalcode

SPDX-License-Identifier: CC0-1.0 (weights, configurations, the SentencePiece vocabulary)
"""


def runs_text(tr):
    """The transformer's training runs: one, or a first run continued with --resume."""
    last = f"{tr['steps'] - tr.get('resumed_from', 0)} steps in {tr['seconds'] / 60:.1f} min at lr {tr['lr']}"
    if not tr.get("resumed_from"):
        return last
    first = work("transformer_train-run1.json")
    if os.path.exists(first):
        with open(first) as f:
            run1 = json.load(f)
        before = f"{run1['steps']} steps in {run1['seconds'] / 60:.1f} min at lr {run1['lr']}"
    else:
        before = f"{tr['resumed_from']} steps"
    return (f"{before}, then resumed (--resume, a fresh optimiser) for {last}: {tr['steps']} "
            f"steps in all (the table shows the resumed run, steps counted from its start)")


def vae_text(vae):
    if vae.get("source"):
        return f"- VAE: the one of {vae['source']} (from-model), not trained again."
    return (f"- VAE: {vae['steps']} steps ({vae['seconds'] / 60:.1f} min), L1 + 1e-4 KL on scene crops "
            f"and then\n  whole scenes; final L1 (EMA) {vae['l1']:.4f} in [-1, 1] units.")


def sizes_text(tr):
    """The multi-size part of the last run, if it had one."""
    if not tr.get("sizes_share"):
        return ""
    sizes = ", ".join(f"{w} x {h}" for h, w in tr["sizes"])
    crops = (f" First, {tr['crop_share'] * 100:.0f} % of the steps on larger scenes trained on a "
             f"base-size window of each with the base grid's positions (PIPE's view); the PES "
             f"share is of the rest."
             if tr.get("crop_share") else "")
    return (f"\n  {tr['sizes_share'] * 100:.0f} % of its steps drew on latents at other sizes ({sizes} px, "
            f"{tr.get('sizes_count', '?')} scenes each, the same tokens per step), {tr['pes_share'] * 100:.0f} % of those "
            f"larger than the base with positions spaced onto the base grid as PES spaces them.{crops}")


def guidance_text(tr):
    """Caption dropout of the last run, if it had one (resdit.json then guides with CFG)."""
    if not tr.get("caption_dropout"):
        return ""
    return (f"\n  {tr['caption_dropout'] * 100:.0f} % of the captions were replaced by the empty prompt, "
            f"so the model\n  guides itself: resdit.json sets classifier-free guidance against the "
            f"empty prompt.")


def write_readme(data, tr, args):
    with open(work("vae", "train.json")) as f:
        vae = json.load(f)
    commands = open(work("commands.txt")).read().strip() if os.path.exists(work("commands.txt")) else ""
    hist = "\n".join(f"| {s} | {sec / 60:.1f} | {loss:.4f} |" for s, sec, loss in
                     tr["history"][:: max(1, len(tr["history"]) // 12)] + tr["history"][-1:])
    cfg_text = (f", classifier-free guidance at scale {args.cfg_scale:g} against the empty prompt"
                if tr.get("caption_dropout") else "")
    text = f"""# resdit-demo: a tiny FLUX-architecture model of procedural landscapes

The demo model of ResDiT Studio (docs/DEMO_MODEL.md): a FLUX.1-architecture transformer, VAE and
CLIP / T5 text encoders at toy size, trained on the CPU on the scenes of tools/demo/scenes.py
(sky, one sun or moon, hills or mountains, water, trees, houses, and a caption that states
them). It draws at a base size of {BASE} px ({BASE // 16} x {BASE // 16} tokens; resdit.json
declares it) in {STEPS} steps, no guidance embedder (schnell-like: no timestep shift){cfg_text}.

| part | shape |
|---|---|
| transformer | FluxTransformer2DModel {json.dumps(FLUX_CONFIG)} |
| vae | AutoencoderKL, 16 latent channels, factor 8, channels {VAE_CONFIG['block_out_channels']}, {VAE_CONFIG['norm_num_groups']} groups, scaling {data['scale']:.4f}, shift {data['shift']:.4f} |
| text_encoder | CLIPTextModel, hidden 32, 2 layers, vocabulary {CLIP_VOCAB} (tokenizer/: the first merges of the bundled CLIP BPE) |
| text_encoder_2 | T5EncoderModel (v1.1, gated-gelu), d_model 64, 2 layers; tokenizer_2/: our own SentencePiece unigram vocabulary of the captions |

Weights are float16 safetensors, in the diffusers folder layout the engine loads.

## How it was trained
Seeds are fixed in the script (VAE weights 1, VAE crops 2, transformer 3, batches 4); wall-time
bounded phases make the step counts depend on the machine. On the shared 2-core build machine
(other jobs running), single-threaded PyTorch 2.5.1:

{vae_text(vae)}
- Latents: {tr['latents']} scenes (seeds 0..{tr['latents'] - 1}) encoded once (latent means).
- Transformer with both text encoders, rectified flow (x_t = (1 - t) x0 + t noise, target
  noise - x0, logit-normal t), batch {tr['batch']}, AdamW (warm-up, cosine), EMA weights
  exported: {runs_text(tr)}, final loss (EMA) {tr['final_loss']:.4f}.{sizes_text(tr)}{guidance_text(tr)}

| step | minutes | loss |
|---|---|---|
{hist}

Commands (from the repository root, venv of tools/demo/requirements.txt):

```
{commands}
```

Licence: CC0-1.0 (see LICENSE), apart from the CLIP BPE merges (MIT, data/tokenizers/NOTICE).
"""
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(text)
    with open(os.path.join(OUT, "LICENSE"), "w") as f:
        f.write(LICENSE_TEXT)


@torch.no_grad()
def load_exported(folder):
    """An exported model folder: (transformer, CLIP, T5, VAE, CFG scale; 1 without guidance)."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextModel, T5EncoderModel
    flux = FluxTransformer2DModel.from_pretrained(os.path.join(folder, "transformer")).float()
    clip = CLIPTextModel.from_pretrained(os.path.join(folder, "text_encoder")).float()
    t5 = T5EncoderModel.from_pretrained(os.path.join(folder, "text_encoder_2")).float()
    vae = AutoencoderKL.from_pretrained(os.path.join(folder, "vae")).float()
    with open(os.path.join(folder, "resdit.json")) as f:
        settings = json.load(f)
    scale = settings.get("default_guidance", 1.0) if settings.get("guidance") == "cfg" else 1.0
    return flux, clip, t5, vae, scale


def sample_euler(flux, x, ids, cond, uncond=None, scale=1.0):
    """STEPS Euler steps of the flow from packed noise x at positions ids; cond and uncond are
    (txt, vec) pairs, the empty prompt's guiding at scale above 1 (classifier-free guidance)."""
    ts = torch.linspace(1, 0, STEPS + 1)
    for i in range(STEPS):
        def velocity(txt, vec):
            return flux(hidden_states=x, timestep=ts[i].expand(x.shape[0]), encoder_hidden_states=txt,
                        pooled_projections=vec, txt_ids=torch.zeros(T5_LEN, 3), img_ids=ids,
                        return_dict=False)[0]
        v = velocity(*cond)
        if scale > 1:
            u = velocity(*uncond)
            v = u + scale * (v - u)
        x = x + (ts[i + 1] - ts[i]) * v
    return x


def decode(vae, x, h, w):
    """Packed latent tokens of an h x w latent -> [B, H, W, 3] uint8 pictures."""
    lat = unpack(x, h, w) / vae.config.scaling_factor + vae.config.shift_factor
    return ((vae.decode(lat).sample.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1)


def phase_sample(args):
    from PIL import Image
    clip_tok, t5_tok = load_tokenizers()
    flux, clip, t5, vae, scale = load_exported(OUT)
    caps = [scenes.scene(s, 64)[1] for s in range(900000, 900000 + args.samples)]
    cond = encode_text(clip_tok, t5_tok, clip, t5, caps)
    uncond = encode_text(clip_tok, t5_tok, clip, t5, [""] * len(caps)) if scale > 1 else None
    g = torch.Generator().manual_seed(5)
    size = args.size
    h = w = size // 8
    x = pack(torch.randn(len(caps), 16, h, w, generator=g))
    img = decode(vae, sample_euler(flux, x, img_ids(h // 2, w // 2), cond, uncond, scale), h, w)
    cols = 4
    rows = (len(caps) + cols - 1) // cols
    grid = Image.new("RGB", (cols * size, rows * size))
    for i in range(len(caps)):
        grid.paste(Image.fromarray(img[i].numpy()), ((i % cols) * size, (i // cols) * size))
        print(i, caps[i])
    grid.save(args.grid)
    log(f"samples -> {args.grid}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("phase", choices=["tokenizers", "vae", "latents", "sizes", "transformer",
                                      "export", "sample", "from-model", "all"])
    ap.add_argument("--device", default="cpu", help="cpu or cuda (vae, latents, sizes, transformer)")
    ap.add_argument("--source", default=OUT, help="from-model: the exported model folder")
    ap.add_argument("--vae", help="from-model: take the VAE from this folder instead")
    ap.add_argument("--vae-minutes", type=float, default=12)
    ap.add_argument("--vae-multiscale", action="store_true",
                    help="vae: half the steps on crops of scenes drawn at 256-1024 px")
    ap.add_argument("--resume", action="store_true", help="vae or transformer: continue the saved weights")
    ap.add_argument("--count", type=int, default=4000, help="scenes whose latents are cached")
    ap.add_argument("--minutes", type=float, default=50, help="transformer training wall time")
    ap.add_argument("--batch", type=int, default=32, help="scenes per step at the base size "
                    "(other sizes: as many tokens)")
    ap.add_argument("--sizes-share", type=float, default=0.0,
                    help="transformer: share of steps on the other SIZES (phase sizes first)")
    ap.add_argument("--crop-share", type=float, default=0.0,
                    help="transformer: share of the larger-grid steps that train on a base-size "
                    "window of each scene with the base grid's positions (PIPE's view)")
    ap.add_argument("--pes-share", type=float, default=0.0,
                    help="transformer: share of the larger-grid steps whose positions are "
                    "spaced onto the base grid as PES spaces them")
    ap.add_argument("--caption-dropout", type=float, default=0.0,
                    help="transformer: the share of captions replaced by the empty prompt, which "
                    "lets the model guide itself (classifier-free guidance)")
    ap.add_argument("--cfg-scale", type=float, default=4.0,
                    help="export: resdit.json's default guidance scale when the transformer was "
                    "trained with --caption-dropout")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--size", type=int, default=BASE)
    ap.add_argument("--grid", default=os.path.join(WORK, "samples.png"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    os.makedirs(WORK, exist_ok=True)
    phases = (["tokenizers", "vae", "latents"] + (["sizes"] if args.sizes_share > 0 else [])
              + ["transformer", "export", "sample"] if args.phase == "all" else [args.phase])
    if args.phase not in ("export", "sample"):
        with open(work("commands.txt"), "a") as f:
            f.write("nice -n 10 python tools/demo/train_demo.py " + " ".join(sys.argv[1:]) + "\n")
    for p in phases:
        log(f"== {p}")
        globals()["phase_" + p.replace("-", "_")](args)


if __name__ == "__main__":
    main()
