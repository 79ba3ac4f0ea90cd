#!/usr/bin/env python3
"""Golden files for the text side (engine/text): tokenizer ids and tiny encoder outputs.

Writes under tests/data/text/:
  corpus.json             >= 1000 prompts (ASCII, punctuation, digits, accents, CJK, emoji,
                          whitespace runs, very long prompts, NFKC cases, typed special tokens)
  tokenizer_goldens.json  per prompt: Python's NFKC, HF CLIPTokenizer ids (bundled vocabulary),
                          HF T5TokenizerFast ids (the test SentencePiece model below)
  tiny/                   a diffusers-like root: tokenizer/ (a small CLIP BPE: the first merges of
                          the bundled vocabulary), tokenizer_2/ (spiece.model + tokenizer.json of a
                          unigram model trained here with nmt_nfkc, T5's rule), text_encoder/ (tiny
                          CLIPTextModel), text_encoder_2/ (tiny T5EncoderModel, sharded)
  encoder_goldens.safetensors  outputs of the tiny models on fixed ids and on full prompts

Run with the pinned reference stack (tools/reference/requirements.txt):
  /work/venv-ref/bin/python tools/reference/make_text_goldens.py
"""
import gzip
import json
import os
import random
import shutil
import tempfile
import unicodedata

import numpy as np
import sentencepiece as spm
import torch
from safetensors.numpy import save_file
from safetensors.torch import save_file as save_torch_file
from transformers import (CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config,
                          T5EncoderModel, T5Tokenizer, T5TokenizerFast)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "text")
BUNDLED_MERGES = os.path.join(ROOT, "data", "tokenizers", "clip", "merges.txt.gz")
CLIP_MERGES = 49152 - 256 - 2  # merges the reference keeps

WORDS = ("a photo of cat dog astronaut riding horse on the moon portrait woman man old young "
         "city street night rain neon lights cinematic lighting highly detailed 8k ultra "
         "realistic painting oil watercolor sketch by artist trending artstation mountain lake "
         "sunset forest fog castle dragon fantasy sci-fi robot cyberpunk steampunk vintage film "
         "grain bokeh depth of field macro close-up wide angle lens 35mm 85mm studio soft light "
         "golden hour blue hour snow desert ocean waves beach tropical island flowers garden "
         "kitchen coffee cup breakfast table wooden glass reflection mirror shadow silhouette "
         "it's don't we're they've I'm you'll he'd isn't HELLO World CamelCase MiXeD "
         "the quick brown fox jumps over lazy").split()
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["...", "--", "!!", "?!", "''", "``"]
ACCENTED = ("café naïve résumé façade jalapeño crème brûlée Ångström Øresund Straße Zürich "
            "São Paulo Kraków Dvořák Ελληνικά ΣΊΣΥΦΟΣ Москва київ İstanbul ıi ǅemal "
            "Ærø œuvre ĳssel ŉ ǰ").split()
DECOMPOSED = ["e\u0301", "a\u0308", "n\u0303", "o\u0302\u0323", "A\u030a", "\u1100\u1161\u11a8"]
CJK = ["一只猫坐在月亮上", "山水画，水墨风格", "東京の夜景、ネオン", "ひらがなとカタカナ",
       "한국어 프롬프트 테스트", "中文与English混合", "龍と侍", "春夏秋冬", "𠀀𠀁 rare ideographs",
       "漢字　全角スペース", "パンダ", "北京烤鸭", "さくら 桜"]
EMOJI = ["😀", "🐱", "🚀🌕", "👩‍🚀", "👍🏽", "🇯🇵", "❤️", "🏳️‍🌈", "👨‍👩‍👧‍👦", "✨", "🔥🔥🔥",
         "☕", "🎨🖌️", "1️⃣", "©️"]
NFKC = ["ﬁne ﬂower", "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ１２３", "x² + y³ = z⁴", "① ② ③", "Ⅻ o'clock",
        "ｶﾀｶﾅ ﾊﾝｶｸ", "™ ℠ ℡", "5㎏ 10㎞ 3㎖", "Å K Ω", "…", "½ ¼ ¾", "ǆ ǉ ǌ", "ℌℑℜ",
        "𝐁𝐨𝐥𝐝 𝓼𝓬𝓻𝓲𝓹𝓽", "㍻ ㍿", "⑴ ⒜", "ｱｲｳｴｵ", "Ⓐⓑⓒ", "ﾟ ﾞ", "\u2000en\u2003em\u3000ideo",
        "ſtop", "ﬀ ﬃ ﬄ", "µ vs μ", "ﹰ ﺍ ﻻ", "︵ ︶", "ＡＢＣ！？", "№ 5", "℃ ℉", "⁰¹²", "ℕ ℤ ℚ"]
OTHER_SCRIPTS = ["مرحبا بالعالم", "שלום עולם", "สวัสดีครับ", "नमस्ते दुनिया", "Γειά σου Κόσμε",
                 "Привет, мир!", "Tiếng Việt có dấu", "ქართული", "Հայերեն", "ኢትዮጵያ"]
ODD = ["tab\there", "new\nline", "cr\rlf\r\n", "zero\u200bwidth", "zw\u200dj", "soft\u00adhyphen",
       "bom\ufeff", "ctrl\x01\x07\x1f", "nbsp\u00a0space", "line\u2028sep", "para\u2029sep",
       "private\ue000use", "\u0301leading mark", "repl\ufffdchar", "stx\x02byte", "del\x7f",
       "vs\ufe0f", "\u180e mongolian", "fs\x1c", "nel\x85", "trail\u3000", "lsep\u2028", "dash\u2014dash\u2013", "“quotes” ‘single’ «guillemets»",
       "ell…ipsis", "ß ẞ", "ﬅ", "ΣΑΣ σας", "ΌΣΟΣ", "x\u0345"]
SPECIAL = ["<|endoftext|>", "<|startoftext|> hi", "a<|endoftext|>b", "<|ENDOFTEXT|>", "</s>",
           "end </s> mid", "<pad> and <unk>", "<extra_id_0> fill <extra_id_99>", "<extra_id_7>x",
           "<s>", "<|endoftext", "< / s >"]


def make_corpus():
    rng = random.Random(20260126)

    def words(n):
        return [rng.choice(WORDS) for _ in range(n)]

    corpus = ["", " ", "   ", "\t\n", "a", "A", ".", "1", "photo", "a photo of a cat"]
    for _ in range(330):  # plain ASCII prompts
        w = words(rng.randint(1, 20))
        text = ""
        for i, x in enumerate(w):
            text += x
            r = rng.random()
            text += ", " if r < 0.15 else ". " if r < 0.2 else " "
        corpus.append(text.strip() if rng.random() < 0.7 else text)
    for _ in range(90):  # punctuation heavy
        parts = []
        for _ in range(rng.randint(1, 10)):
            parts.append(rng.choice(WORDS) if rng.random() < 0.5 else
                         "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 4))))
        corpus.append(rng.choice(["", " "]).join(parts))
    for _ in range(70):  # digits
        parts = [str(rng.randint(0, 10 ** rng.randint(1, 12))) for _ in range(rng.randint(1, 4))]
        parts += words(rng.randint(0, 4))
        rng.shuffle(parts)
        corpus.append(rng.choice([" ", "", ",", "x", "."]).join(parts))
    for _ in range(80):  # accents, decomposed marks, other scripts
        pool = ACCENTED + DECOMPOSED + OTHER_SCRIPTS
        parts = [rng.choice(pool) for _ in range(rng.randint(1, 5))] + words(rng.randint(0, 3))
        rng.shuffle(parts)
        corpus.append(" ".join(parts))
    for _ in range(80):  # CJK
        parts = [rng.choice(CJK) for _ in range(rng.randint(1, 3))] + words(rng.randint(0, 3))
        rng.shuffle(parts)
        corpus.append(rng.choice(["", " ", "、"]).join(parts))
    for _ in range(70):  # emoji
        parts = [rng.choice(EMOJI) for _ in range(rng.randint(1, 4))] + words(rng.randint(0, 4))
        rng.shuffle(parts)
        corpus.append(rng.choice(["", " "]).join(parts))
    for _ in range(70):  # whitespace runs
        w = words(rng.randint(1, 6))
        seps = [" " * rng.randint(1, 5), "\t", "\n\n", " \t ", "\u3000", "\u00a0\u00a0"]
        text = "".join(x + rng.choice(seps) for x in w)
        corpus.append(rng.choice(["", "  ", "\n"]) + text)
    for _ in range(90):  # text that needs NFKC
        parts = [rng.choice(NFKC) for _ in range(rng.randint(1, 3))] + words(rng.randint(0, 3))
        rng.shuffle(parts)
        corpus.append(" ".join(parts))
    for _ in range(60):  # odd characters
        parts = [rng.choice(ODD) for _ in range(rng.randint(1, 3))] + words(rng.randint(0, 2))
        rng.shuffle(parts)
        corpus.append(" ".join(parts))
    corpus += ODD + NFKC + EMOJI + CJK + SPECIAL + [x + " end" for x in ODD]
    for _ in range(20):
        corpus.append(rng.choice(SPECIAL) + " " + " ".join(words(3)))
    for _ in range(34):  # very long prompts (CLIP truncates at 77, some pass T5's 512)
        n = rng.choice([60, 80, 120, 200, 450, 700])
        corpus.append(", ".join(" ".join(words(rng.randint(1, 4))) for _ in range(n // 2)))
    corpus.append(" ".join(["a"] * 75))
    corpus.append(" ".join(["a"] * 76))
    corpus.append(" ".join(["a"] * 511))
    corpus.append(" ".join(["a"] * 512))
    assert len(corpus) >= 1000, len(corpus)
    return corpus


def clip_vocab(merges):
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


def write_clip_tokenizer(folder, n_merges):
    with gzip.open(BUNDLED_MERGES, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = lines[1:1 + n_merges]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(clip_vocab(merges), f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
               "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump(special, f)
    return CLIPTokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"))


def write_t5_tokenizer(folder, corpus):
    """A unigram model trained with sentencepiece's nmt_nfkc rule, saved as T5 ships it."""
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(7)
    lines = corpus[:] + [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(3000)]
    tmp = os.path.join(tempfile.gettempdir(), "resdit-spm-train")  # fixed: the model records it
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    if True:
        text = os.path.join(tmp, "train.txt")
        with open(text, "w", encoding="utf-8") as f:
            f.write("\n".join(l.replace("\n", " ") for l in lines if l.strip()))
        spm.SentencePieceTrainer.train(
            input=text, model_prefix=os.path.join(tmp, "spiece"), vocab_size=1000,
            model_type="unigram", normalization_rule_name="nmt_nfkc", character_coverage=0.98,
            pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>",
            unk_piece="<unk>", num_threads=1, seed_sentencepiece_size=20000,
            hard_vocab_limit=False, minloglevel=2)
        shutil.copy(os.path.join(tmp, "spiece.model"), os.path.join(folder, "spiece.model"))
    shutil.rmtree(tmp)
    slow = T5Tokenizer(os.path.join(folder, "spiece.model"), extra_ids=100, legacy=True)
    fast = T5TokenizerFast(__slow_tokenizer=slow, vocab_file=None, extra_ids=100, legacy=True,
                           from_slow=True)
    fast.save_pretrained(folder)
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        pass  # kept: transformers reads them back
    # spiece.model stays: the C loader reads either file; tokenizer.json is preferred.
    return T5TokenizerFast.from_pretrained(folder)


def write_t5_variants(folder, t5_folder):
    """The same unigram model behind the other tokenizer.json layouts found in the wild: the older
    T5 export (Precompiled only, WhitespaceSplit + Metaspace) and a plain NFKC normaliser."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(t5_folder, "tokenizer.json"), encoding="utf-8") as f:
        base = json.load(f)
    charsmap = base["normalizer"]["normalizers"][0]
    legacy = dict(base, normalizer=charsmap, pre_tokenizer={
        "type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True,
             "prepend_scheme": "always", "split": True}]})
    nfkc = dict(base, normalizer={"type": "Sequence", "normalizers": [
        {"type": "NFKC"}, {"type": "Strip", "strip_left": False, "strip_right": True},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"}]})
    toks = {}
    with tempfile.TemporaryDirectory() as tmp:  # the legacy file is rebuilt by the C test
        for name, data in (("legacy", legacy), ("nfkc", nfkc)):
            path = os.path.join(folder if name == "nfkc" else tmp, f"t5_{name}.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False)
            toks[name] = T5TokenizerFast(tokenizer_file=path, extra_ids=100)
    return toks


def charsmap_goldens(t5_folder):
    """The precompiled normaliser alone, as the tokenizers library applies it: every code point
    it changes, and base + mark pairs (grapheme clusters shorter than 6 bytes are looked up
    whole)."""
    import base64
    from tokenizers import normalizers
    with open(os.path.join(t5_folder, "tokenizer.json"), encoding="utf-8") as f:
        blob = base64.b64decode(json.load(f)["normalizer"]["normalizers"][0]["precompiled_charsmap"])
    norm = normalizers.Precompiled(blob)
    singles = {}
    for c in range(0x110000):
        if 0xD800 <= c < 0xE000:
            continue
        out = norm.normalize_str(chr(c))
        if out != chr(c):
            singles[str(c)] = out
    bases = ([chr(c) for c in range(0x21, 0x7F)] + list("éÅñßæøĳŉǅΣσЖж") +
             [chr(c) for c in range(0xFF21, 0xFF3B)] + [chr(c) for c in range(0xFF66, 0xFF9E, 3)] +
             [chr(c) for c in range(0x1100, 0x1113)] + list("カキクケコはひふへほ東京ｶﾞ①²ℌ❤☕👍🇯🇵") +
             ["\r", "\n", " ", "\t", "\u00a0", "\u3000"])
    marks = ["\u0300", "\u0301", "\u0308", "\u0323", "\u0327", "\u0345", "\u3099", "\u309a",
             "\uff9e", "\uff9f", "\ufe0f", "\u20e3", "\U0001f3fb", "\u200d", "\u1161", "\u11a8",
             "\n", "\u200b", "\u00ad", "\U0001f1ef"]
    pairs = [[b + m, norm.normalize_str(b + m)] for b in bases for m in marks]
    pairs += [[b + m + m2, norm.normalize_str(b + m + m2)] for b in bases[:40]
              for m in marks[:6] for m2 in marks[:3]]
    return {"singles": singles, "pairs": pairs}


def fnv(h, value):
    return ((h ^ (value & 0xFFFFFFFF)) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF


def clip_codepoint_hashes(tok):
    """CLIPTokenizer on each code point below U+30000 alone, hashed per block of 256 (FNV-1a over
    the ids up to EOS, -1 after each), with a hash of Python's general categories per block so
    that blocks whose Unicode data differs from GLib's can be told apart."""
    ids_hashes, category_hashes = [], []
    for block in range(0x30000 // 256):
        h, hc = 0xCBF29CE484222325, 0xCBF29CE484222325
        for cp in range(block * 256, block * 256 + 256):
            if cp == 0 or 0xD800 <= cp < 0xE000:
                continue
            for i in tok(chr(cp))["input_ids"] + [-1]:
                h = fnv(h, i)
            cat = unicodedata.category(chr(cp))
            hc = fnv(fnv(hc, ord(cat[0])), ord(cat[1]))
        ids_hashes.append("%016x" % h)
        category_hashes.append("%016x" % hc)
    return {"unicode": unicodedata.unidata_version, "ids": ids_hashes,
            "categories": category_hashes}


def t5_codepoint_hashes(tok):
    """T5TokenizerFast on each code point below U+30000, hashed per block as for CLIP."""
    out = []
    for block in range(0x30000 // 256):
        h = 0xCBF29CE484222325
        for cp in range(block * 256, block * 256 + 256):
            if cp == 0 or 0xD800 <= cp < 0xE000:
                continue
            for i in tok(chr(cp))["input_ids"] + [-1]:
                h = fnv(h, i)
        out.append("%016x" % h)
    return out


def clip_ids(tok, prompts, max_length=77):
    out = []
    for p in prompts:
        full = tok(p, truncation=False)["input_ids"]
        ids = tok(p, max_length=max_length, padding="max_length", truncation=True)["input_ids"]
        unpadded = full[:max_length - 1] + [full[-1]] if len(full) > max_length else full
        assert ids == unpadded + [tok.pad_token_id] * (max_length - len(unpadded)), p
        out.append({"ids": unpadded, "dropped": max(0, len(full) - max_length)})
    return out


def t5_ids(tok, prompts, max_length=512):
    out = []
    for p in prompts:
        full = tok(p, truncation=False)["input_ids"]
        ids = tok(p, max_length=max_length, padding="max_length", truncation=True)["input_ids"]
        unpadded = full[:max_length - 1] + [full[-1]] if len(full) > max_length else full
        assert ids == unpadded + [tok.pad_token_id] * (max_length - len(unpadded)), p
        out.append({"ids": unpadded, "dropped": max(0, len(full) - max_length)})
    return out


def tiny_clip(vocab_size, bos, eos):
    torch.manual_seed(1)
    cfg = CLIPTextConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                         hidden_act="quick_gelu", layer_norm_eps=1e-5, bos_token_id=bos,
                         eos_token_id=eos, pad_token_id=eos, projection_dim=32)
    model = CLIPTextModel(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():  # LayerNorms start at 1/0: make every weight matter
            p.add_(torch.randn_like(p) * 0.05)
    return model


def tiny_t5(vocab_size):
    torch.manual_seed(2)
    cfg = T5Config(vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=48, num_layers=2,
                   num_heads=4, relative_attention_num_buckets=32,
                   relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
                   layer_norm_epsilon=1e-6, dropout_rate=0.0, is_encoder_decoder=False,
                   use_cache=False, tie_word_embeddings=False, decoder_start_token_id=0)
    model = T5EncoderModel(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


PIPELINE_PROMPTS = ["a photo of a cat wearing a tiny astronaut helmet, 35mm, soft light",
                    "", "Ｆｕｌｌｗｉｄｔｈ ﬁne café 東京 👩‍🚀 " + "very long " * 60]


def main():
    os.makedirs(OUT, exist_ok=True)
    corpus = make_corpus()
    with open(os.path.join(OUT, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(corpus, f, ensure_ascii=False, indent=0)

    tiny = os.path.join(OUT, "tiny")
    shutil.rmtree(tiny, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        full_clip = write_clip_tokenizer(os.path.join(tmp, "clip"), CLIP_MERGES)
        assert full_clip.fix_text is None, "uninstall ftfy: the goldens follow CLIPTokenizer without it"
        assert full_clip("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368,
                                                             49407]
        clip_golden = clip_ids(full_clip, corpus)
        with open(os.path.join(OUT, "clip_codepoint_hashes.json"), "w") as f:
            json.dump(clip_codepoint_hashes(full_clip), f, indent=0)
    small_clip = write_clip_tokenizer(os.path.join(tiny, "tokenizer"), 500)
    t5_tok = write_t5_tokenizer(os.path.join(tiny, "tokenizer_2"), corpus)
    goldens = {
        "nfkc": [unicodedata.normalize("NFKC", p) for p in corpus],
        "clip": {"max_length": 77, "pad_id": full_clip.pad_token_id, "items": clip_golden},
        "clip_small": {"max_length": 77, "pad_id": small_clip.pad_token_id,
                       "items": clip_ids(small_clip, corpus)},
        "t5": {"max_length": 512, "pad_id": t5_tok.pad_token_id, "items": t5_ids(t5_tok, corpus)},
        "t5_256": {"max_length": 256, "pad_id": t5_tok.pad_token_id,
                   "items": t5_ids(t5_tok, corpus, 256)},
    }
    with open(os.path.join(OUT, "charsmap_goldens.json"), "w", encoding="utf-8") as f:
        json.dump(charsmap_goldens(os.path.join(tiny, "tokenizer_2")), f, ensure_ascii=False,
                  separators=(",", ":"))
    with open(os.path.join(OUT, "t5_codepoint_hashes.json"), "w") as f:
        json.dump(t5_codepoint_hashes(t5_tok), f, indent=0)
    variants = write_t5_variants(os.path.join(OUT, "t5_variants"), os.path.join(tiny, "tokenizer_2"))
    for name, tok in variants.items():
        goldens[f"t5_{name}"] = {"max_length": 512, "pad_id": tok.pad_token_id,
                                 "items": t5_ids(tok, corpus)}
    with open(os.path.join(OUT, "tokenizer_goldens.json"), "w", encoding="utf-8") as f:
        json.dump(goldens, f, ensure_ascii=False, separators=(",", ":"))

    clip = tiny_clip(len(small_clip), small_clip.bos_token_id, small_clip.eos_token_id)
    clip.save_pretrained(os.path.join(tiny, "text_encoder"), safe_serialization=True)
    t5 = tiny_t5(len(t5_tok))
    t5.save_pretrained(os.path.join(tiny, "text_encoder_2"), safe_serialization=True,
                       max_shard_size="100KB")
    with open(os.path.join(tiny, "model_index.json"), "w") as f:
        json.dump({"_class_name": "FluxPipeline", "text_encoder": ["transformers", "CLIPTextModel"],
                   "text_encoder_2": ["transformers", "T5EncoderModel"],
                   "tokenizer": ["transformers", "CLIPTokenizer"],
                   "tokenizer_2": ["transformers", "T5TokenizerFast"]}, f, indent=1)

    g = {}
    rng = np.random.default_rng(3)
    clip_ids_in = rng.integers(0, len(small_clip) - 2, size=(1, 77))
    clip_ids_in[0, 0] = small_clip.bos_token_id
    clip_ids_in[0, 20] = small_clip.eos_token_id  # pooled = first EOS
    clip_ids_in[0, 40] = small_clip.eos_token_id
    noeos_ids = rng.integers(0, len(small_clip) - 2, size=(1, 77))  # no EOS: argmax pooling
    t5_ids_in = rng.integers(0, len(t5_tok), size=(1, 200))
    with torch.no_grad():
        out = clip(torch.tensor(clip_ids_in))
        g["clip_ids"] = clip_ids_in.astype(np.int64)
        g["clip_hidden"] = out.last_hidden_state[0].numpy()
        g["clip_pooled"] = out.pooler_output[0].numpy()
        clip.text_model.eos_token_id = 2  # the openai/FLUX config: pooled at argmax(ids)
        g["clip_noeos_ids"] = noeos_ids.astype(np.int64)
        g["clip_pooled_argmax"] = clip(torch.tensor(noeos_ids)).pooler_output[0].numpy()
        clip.text_model.eos_token_id = small_clip.eos_token_id
        g["t5_ids"] = t5_ids_in.astype(np.int64)
        g["t5_hidden"] = t5(torch.tensor(t5_ids_in)).last_hidden_state[0].numpy()
        for tag, dtype in (("fp16", torch.float16), ("fp8_e4m3fn", torch.float8_e4m3fn)):
            # single files as ComfyUI ships them: f16, or fp8 linear weights with f16 others
            state = {}
            for k, v in t5.state_dict().items():
                if k == "encoder.embed_tokens.weight":
                    continue  # tied to shared.weight
                low = dtype if (v.ndim == 2 and "relative_attention_bias" not in k and
                                k != "shared.weight") else torch.float16
                state[k] = v.to(low).contiguous()
            save_torch_file(state, os.path.join(OUT, f"t5xxl_{tag}_tiny.safetensors"))
            rounded = tiny_t5(len(t5_tok))
            rounded.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
            rounded.encoder.embed_tokens = rounded.shared
            g[f"t5_{tag}_hidden"] = rounded(torch.tensor(t5_ids_in)).last_hidden_state[0].numpy()
        for i, prompt in enumerate(PIPELINE_PROMPTS):  # as diffusers' FluxPipeline encodes
            t5_len = 512 if i == 0 else 256
            ci = small_clip(prompt, padding="max_length", max_length=77, truncation=True,
                            return_tensors="pt").input_ids
            ti = t5_tok(prompt, padding="max_length", max_length=t5_len, truncation=True,
                        return_tensors="pt").input_ids
            g[f"pipeline{i}_vec"] = clip(ci).pooler_output[0].numpy()
            g[f"pipeline{i}_txt"] = t5(ti).last_hidden_state[0].numpy()
    save_file({k: np.ascontiguousarray(v) for k, v in g.items()},
              os.path.join(OUT, "encoder_goldens.safetensors"))
    with open(os.path.join(OUT, "pipeline_prompts.json"), "w", encoding="utf-8") as f:
        json.dump(PIPELINE_PROMPTS, f, ensure_ascii=False)
    print("corpus", len(corpus), "prompts; t5 vocab", len(t5_tok), "; clip small", len(small_clip))


if __name__ == "__main__":
    main()
