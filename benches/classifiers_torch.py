"""The PyTorch side of `cargo bench --bench classifiers`: the same randomly initialised
base-size RoBERTa and Longformer classifiers, one text at a time, on the CPU. Prints
`name tokens texts_per_second` lines."""

import sys
import time

import torch
import transformers

texts = int(sys.argv[1]) if len(sys.argv) > 1 else 12
torch.manual_seed(0)
print(f"# threads {torch.get_num_threads()}")
base = dict(vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1)
models = [
    ("roberta-base", transformers.RobertaForSequenceClassification(
        transformers.RobertaConfig(max_position_embeddings=514, num_labels=7, **base))),
    ("longformer-base", transformers.LongformerForSequenceClassification(
        transformers.LongformerConfig(max_position_embeddings=4098, attention_window=512, num_labels=6, **base))),
]
transformers.logging.set_verbosity_error()
with torch.inference_mode():
    for name, model in models:
        model.eval()
        for tokens in (128, 512):
            ids = torch.tensor([[3 + (i * 7919) % 50000 for i in range(tokens)]])
            model(input_ids=ids)
            start = time.perf_counter()
            for _ in range(texts):
                model(input_ids=ids)
            print(name, tokens, f"{texts / (time.perf_counter() - start):.2f}", flush=True)
