"""Reference values for Models/BERTTests, PretrainedFolderTests and SentenceEmbeddingTests,
computed with Hugging Face transformers and sentence-transformers.

    /work/venv/peers/bin/python Tests/EmberTests/Fixtures/generate_bert.py [--minilm DIR]

writes into bert/ beside this script:

- tiny_classifier/: a random BertForSequenceClassification (hidden 32, 2 layers, 4 heads,
  vocabulary 100, 3 labels, exact GELU) saved in float64 by save_pretrained;
- tiny_masked_lm_f16/: a random BertForMaskedLM (no pooler, `cls.*` head, GELU's tanh form)
  saved in float16;
- tiny_sharded_bf16/: a random BertModel with ReLU saved in bfloat16 as three shards
  (save_pretrained(max_shard_size=...)) with model.safetensors.index.json;
- reference.safetensors: the inputs (padded ids, attention mask, token types) and, in
  float64, each model's outputs: the classifier's last hidden state, pooled output, logits,
  a scalar loss and its gradient with respect to every parameter (`grad.<key>`), also its
  last hidden state without mask and token types; the masked LM's and the sharded model's
  last hidden states (computed from the half-precision weights widened to float64); and
  sentence-transformers' Pooling of random token embeddings in every pooling mode;
- minilm_reference.json (with --minilm, the all-MiniLM-L6-v2 folder, default
  $EMBER_MINILM_DIR or ~/.cache/ember/all-MiniLM-L6-v2; see scripts/fetch-minilm.sh):
  ~30 varied sentences, the token ids its tokenizer gives them (truncated at 256), and
  SentenceTransformer(folder)'s normalized embeddings computed in float64.

With --check-ember DIR it instead loads a folder written by Ember's savePretrained (run
`EMBER_BERT_SAVE_DIR=DIR swift test --filter BERTTests/testSavePretrainedRoundTrips`) with
transformers' BertForSequenceClassification and checks its logits against the reference.
"""
import argparse
import json
import os
import shutil

import torch
from safetensors.torch import save_file

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bert")
torch.manual_seed(0)


def tiny_config(**overrides):
    from transformers import BertConfig
    settings = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=64, max_position_embeddings=24, type_vocab_size=2, pad_token_id=0)
    settings.update(overrides)
    return BertConfig(**settings)


def randomize(model, generator):
    """Weights of order one (Hugging Face's normal(0, 0.02) would leave the layers nearly
    linear and the test weak): projections and embeddings N(0, 0.3^2), biases N(0, 0.1^2),
    layer norm scales 1 + N(0, 0.1^2)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float64)
            if "LayerNorm.weight" in name:
                p.copy_(1 + 0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.3 * noise)


def inputs(generator, batch=3, length=7, vocab=100):
    """Ids with padding at the end of rows 1 and 2, their mask, and mixed token types."""
    ids = torch.randint(1, vocab, (batch, length), generator=generator)
    mask = torch.ones(batch, length, dtype=torch.int64)
    for row, real in [(1, 5), (2, 2)]:
        ids[row, real:] = 0
        mask[row, real:] = 0
    types = torch.zeros(batch, length, dtype=torch.int64)
    types[0, 4:] = 1
    types[1, 3:5] = 1
    return ids, mask, types


def save(model, folder, **kwargs):
    path = os.path.join(HERE, folder)
    shutil.rmtree(path, ignore_errors=True)
    model.save_pretrained(path, **kwargs)


def classifier_case(reference):
    from transformers import BertForSequenceClassification
    generator = torch.Generator().manual_seed(1)
    model = BertForSequenceClassification(tiny_config(num_labels=3)).double()
    randomize(model, generator)
    model.eval()
    save(model, "tiny_classifier")
    ids, mask, types = inputs(generator)
    labels = torch.tensor([0, 2, 1])
    weights = torch.randn(3, 7, 32, generator=generator, dtype=torch.float64)
    outputs = model.bert(input_ids=ids, attention_mask=mask, token_type_ids=types)
    logits = model.classifier(model.dropout(outputs.pooler_output))
    # Every parameter reaches the loss: the logits through the pooled first token, the last
    # hidden state through all tokens.
    loss = torch.nn.functional.cross_entropy(logits, labels) + 0.1 * (outputs.last_hidden_state * weights).sum()
    loss.backward()
    reference.update({
        "input_ids": ids, "attention_mask": mask, "token_type_ids": types,
        "classifier.labels": labels, "classifier.loss_weights": weights,
        "classifier.last_hidden_state": outputs.last_hidden_state, "classifier.pooler_output": outputs.pooler_output,
        "classifier.logits": logits, "classifier.loss": loss.reshape([]),
    })
    for name, p in model.named_parameters():
        reference["grad." + name] = p.grad
    with torch.no_grad():
        reference["classifier.unmasked_last_hidden_state"] = model.bert(input_ids=ids).last_hidden_state


def half_precision_case(reference, model, dtype, folder, key, **save_options):
    """Saves `model` in `dtype`; the reference runs the same rounded weights in float64."""
    randomize(model.double(), torch.Generator().manual_seed(2))
    model.to(dtype)
    save(model, folder, **save_options)
    model.double().eval()
    ids, mask, types = reference["input_ids"], reference["attention_mask"], reference["token_type_ids"]
    encoder = getattr(model, "bert", model)
    with torch.no_grad():
        reference[key] = encoder(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state


def pooling_cases(reference):
    from sentence_transformers.sentence_transformer.modules import Pooling
    generator = torch.Generator().manual_seed(3)
    tokens = torch.randn(4, 6, 8, generator=generator, dtype=torch.float64)
    # Right padding, none, a left-padded row (as causal models pad), and one real token.
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0]])
    reference["pooling.token_embeddings"] = tokens
    reference["pooling.attention_mask"] = mask
    modes = ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]
    for mode in modes + [("cls", "mean", "max")]:
        pooling = Pooling(8, pooling_mode=mode)
        pooled = pooling({"token_embeddings": tokens, "attention_mask": mask})["sentence_embedding"]
        reference["pooling." + ("+".join(mode) if isinstance(mode, tuple) else mode)] = pooled


LONG = ("Deep learning frameworks let researchers write models as ordinary programs: tensors flow "
        "through layers, gradients are computed automatically, and optimizers update millions of "
        "parameters on every step. ")
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The cat sat on the mat.",
    "A cat is sitting on a mat.",
    "",
    "a",
    "?!...",
    "Hello!",
    "   leading and trailing spaces   ",
    "tab\tseparated\nnew line\r\nand a bell \u0007 character",
    "non\u00a0breaking\u2003spaces and a zero\u200bwidth space",
    "Café naïve résumé — déjà vu, façade, Ångström.",
    "Combining accents: e\u0301 versus \u00e9, and Greek: Καλημέρα κόσμε",
    "Straße, Größe und Fußgängerübergänge",
    "東京は日本の首都です。",
    "机器学习正在改变世界",
    "한국어 문장도 처리할 수 있나요?",
    "Привет, как дела?",
    "مرحبا بالعالم",
    "I love pizza 🍕🍕 and tacos 🌮!",
    "A family 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵",
    "Prices rose 3.5% to $1,234.56 on 2024-01-15 (see §4.2).",
    "e-mail: someone@example.com; URL: https://example.org/path?q=1&r=2",
    "UPPERCASE TEXT SHOULD BE LOWERCASED BY THE TOKENIZER",
    "unbelievably antidisestablishmentarianism supercalifragilisticexpialidocious",
    LONG * 12,
    " ".join(f"item {i}: résumé, 東京, 🍕;" for i in range(80)),
]


def minilm_case(folder):
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(folder, device="cpu").double()
    encoded = model.tokenizer(SENTENCES, truncation=True, max_length=model.max_seq_length)
    embeddings = model.encode(SENTENCES, convert_to_tensor=True, batch_size=8)
    assert max(len(ids) for ids in encoded["input_ids"]) == model.max_seq_length, "no sentence is truncated"
    # The ids are those sentence-transformers itself feeds the model.
    features = model.preprocess(SENTENCES)
    for row, ids in enumerate(encoded["input_ids"]):
        assert features["input_ids"][row][: len(ids)].tolist() == ids and int(features["attention_mask"][row].sum()) == len(ids)
    out = {
        "max_seq_length": model.max_seq_length,
        "sentences": SENTENCES,
        "input_ids": encoded["input_ids"],
        "embeddings": [[float(f"{v:.8g}") for v in row] for row in embeddings.tolist()],
    }
    with open(os.path.join(HERE, "minilm_reference.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))


def check_ember(folder):
    """Loads the folder Ember's savePretrained wrote (BERTTests.testSavePretrainedRoundTrips with
    EMBER_BERT_SAVE_DIR set) with transformers and compares its logits with the reference."""
    from safetensors.torch import load_file
    from transformers import BertForSequenceClassification
    reference = load_file(os.path.join(HERE, "reference.safetensors"))
    model = BertForSequenceClassification.from_pretrained(folder, dtype=torch.float64).eval()
    with torch.no_grad():
        logits = model(input_ids=reference["input_ids"], attention_mask=reference["attention_mask"],
                       token_type_ids=reference["token_type_ids"]).logits
    error = (logits - reference["classifier.logits"]).abs().max().item()
    print(f"transformers loaded {folder}: largest logit difference {error:.3g}")
    raise SystemExit(0 if error < 1e-10 else 1)


def main():
    from transformers import BertForMaskedLM, BertModel
    default = os.environ.get("EMBER_MINILM_DIR") or os.path.expanduser("~/.cache/ember/all-MiniLM-L6-v2")
    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm", default=default, help="the all-MiniLM-L6-v2 folder (scripts/fetch-minilm.sh)")
    parser.add_argument("--check-ember", metavar="DIR", help="check a folder written by Ember's savePretrained instead")
    args = parser.parse_args()
    if args.check_ember:
        return check_ember(args.check_ember)
    os.makedirs(HERE, exist_ok=True)

    reference = {}
    classifier_case(reference)
    half_precision_case(reference, BertForMaskedLM(tiny_config(hidden_act="gelu_pytorch_tanh")), torch.float16,
                        "tiny_masked_lm_f16", "masked_lm.last_hidden_state")
    half_precision_case(reference, BertModel(tiny_config(hidden_act="relu")), torch.bfloat16,
                        "tiny_sharded_bf16", "sharded.last_hidden_state", max_shard_size="20KB")
    pooling_cases(reference)
    save_file({k: v.detach().contiguous() for k, v in reference.items()}, os.path.join(HERE, "reference.safetensors"))

    if os.path.isdir(args.minilm):
        minilm_case(args.minilm)
    else:
        print(f"skipped minilm_reference.json: no folder {args.minilm} (run scripts/fetch-minilm.sh)")


if __name__ == "__main__":
    main()
