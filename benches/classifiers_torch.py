"""The PyTorch side of `cargo bench --bench classifiers`: the same randomly initialised
base-size RoBERTa and Longformer classifiers on the CPU, timed two ways: one text at a time
over every core (PyTorch's default threads), and AT_ONCE texts at once, each on one thread.
Usage: classifiers_torch.py TEXTS AT_ONCE. Prints `name tokens one_at_a_time at_once` lines
(texts per second)."""

import sys
import threading
import time

import torch
import transformers

texts = int(sys.argv[1]) if len(sys.argv) > 1 else 12
at_once = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.manual_seed(0)
threads = torch.get_num_threads()
print(f"# threads {threads}")
base = dict(vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1)
models = [
    ("roberta-base", transformers.RobertaForSequenceClassification(
        transformers.RobertaConfig(max_position_embeddings=514, num_labels=7, **base))),
    ("longformer-base", transformers.LongformerForSequenceClassification(
        transformers.LongformerConfig(max_position_embeddings=4098, attention_window=512, num_labels=6, **base))),
]
transformers.logging.set_verbosity_error()


def rate(model, ids, workers):
    """Texts per second with `workers` threads each classifying `texts` texts."""
    def work():
        with torch.inference_mode():
            for _ in range(texts):
                model(input_ids=ids)
    pool = [threading.Thread(target=work) for _ in range(workers)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return texts * workers / (time.perf_counter() - start)


for name, model in models:
    model.eval()
    for tokens in (128, 512):
        ids = torch.tensor([[3 + (i * 7919) % 50000 for i in range(tokens)]])
        with torch.inference_mode():
            model(input_ids=ids)
        torch.set_num_threads(threads)
        one = rate(model, ids, 1)
        torch.set_num_threads(1)
        many = rate(model, ids, at_once)
        print(name, tokens, f"{one:.2f}", f"{many:.2f}", flush=True)
