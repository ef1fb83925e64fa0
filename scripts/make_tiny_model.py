"""Write a tiny, randomly initialised Llama checkpoint that real engines can serve.

The folder holds an HF-style `config.json`, fp32 `model.safetensors`, a byte-level
BPE tokenizer trained here on a generated corpus, and a ChatML chat template, so
`mlx_lm.server` and `transformers serve` load it without touching a model hub.
Its output is gibberish by design; what matters is that it is a real model run
by a real engine. Needs only `tokenizers`, `numpy` and `safetensors`; the same
seed and package versions give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

# Special tokens come first so their ids are fixed at 0, 1 and 2 whatever the
# corpus: the config and the template refer to them by id and by text.
ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]

# ChatML, as Qwen-style models use it; `<|im_end|>` doubles as the EOS token so a
# reply ends where the template would close the assistant turn.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Words the corpus is drawn from; mixed scripts and emoji give multi-byte merges,
# so generated text can split a code point across tokens as real models do.
_SEED_TEXT = """
the a an gateway worker request route model token stream retry health load
balance queue prompt reply chat user assistant system hello world small fast
cache prefix policy circuit breaker open closed round robin random least
time second minute error ok yes no one two three four five 0 1 2 3 4 5 6 7 8 9
def return class import ( ) [ ] { } : ; , . ! ? ' " - + = * / < > # @ % &
Bonjour über naïve café 東京 こんにちは 😀
"""


@dataclass(frozen=True)
class Shape:
    """Architecture sizes; the defaults give about 150k parameters."""

    vocab_size: int = 1024
    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    max_positions: int = 2048

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


def corpus(seed: int, n_lines: int = 2000) -> Iterator[str]:
    """Yield sentences of random seed words; the BPE merges are learned from them."""
    rng = np.random.default_rng(seed)
    words = _SEED_TEXT.split()
    for _ in range(n_lines):
        length = int(rng.integers(4, 24))
        yield " ".join(rng.choice(words, size=length)) + "\n"


def train_tokenizer(vocab_size: int, seed: int) -> Tokenizer:
    """Train a GPT-2 style byte-level BPE, so every byte sequence can be encoded."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus(seed), trainer=trainer)
    return tokenizer


def model_config(shape: Shape, vocab_size: int) -> dict[str, object]:
    """The HF `LlamaForCausalLM` config; vocab_size is the trained tokenizer's."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_hidden_layers": shape.num_layers,
        "num_attention_heads": shape.num_heads,
        "num_key_value_heads": shape.num_kv_heads,
        "head_dim": shape.head_dim,
        "max_position_embeddings": shape.max_positions,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "bos_token_id": SPECIAL_TOKENS.index(ENDOFTEXT),
        "eos_token_id": SPECIAL_TOKENS.index(IM_END),
        "pad_token_id": SPECIAL_TOKENS.index(ENDOFTEXT),
        "torch_dtype": "float32",
    }


def tokenizer_config(max_positions: int) -> dict[str, object]:
    """`tokenizer_config.json`: what transformers' AutoTokenizer reads besides
    `tokenizer.json`, including the chat template."""
    added = {
        str(token_id): {
            "content": text,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for token_id, text in enumerate(SPECIAL_TOKENS)
    }
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": ENDOFTEXT,
        "eos_token": IM_END,
        "pad_token": ENDOFTEXT,
        "unk_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": max_positions,
        "added_tokens_decoder": added,
        "chat_template": CHAT_TEMPLATE,
    }


def random_weights(shape: Shape, vocab_size: int, seed: int) -> dict[str, np.ndarray]:
    """Random fp32 tensors under HF Llama names.

    Each matrix has std gain/sqrt(fan_in). Query/key and the output head get a
    larger gain: with a plain init every logit is near zero, so greedy decoding
    would hinge on rounding noise and attention would ignore position.
    """
    rng = np.random.default_rng(seed)

    def matrix(rows: int, cols: int, gain: float = 1.0) -> np.ndarray:
        values = rng.standard_normal((rows, cols)) * (gain / np.sqrt(cols))
        return values.astype(np.float32)

    hidden, inner = shape.hidden_size, shape.intermediate_size
    q_rows = shape.num_heads * shape.head_dim
    kv_rows = shape.num_kv_heads * shape.head_dim
    ones = np.ones(hidden, np.float32)

    weights = {"model.embed_tokens.weight": matrix(vocab_size, hidden)}
    for layer in range(shape.num_layers):
        prefix = f"model.layers.{layer}."
        weights |= {
            prefix + "self_attn.q_proj.weight": matrix(q_rows, hidden, gain=2.5),
            prefix + "self_attn.k_proj.weight": matrix(kv_rows, hidden, gain=2.5),
            prefix + "self_attn.v_proj.weight": matrix(kv_rows, hidden),
            prefix + "self_attn.o_proj.weight": matrix(hidden, q_rows),
            prefix + "mlp.gate_proj.weight": matrix(inner, hidden),
            prefix + "mlp.up_proj.weight": matrix(inner, hidden),
            prefix + "mlp.down_proj.weight": matrix(hidden, inner),
            prefix + "input_layernorm.weight": ones.copy(),
            prefix + "post_attention_layernorm.weight": ones.copy(),
        }
    weights["model.norm.weight"] = ones.copy()
    weights["lm_head.weight"] = matrix(vocab_size, hidden, gain=4.0)
    return weights


def write_json(path: Path, data: dict[str, object]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_model(out: Path, shape: Shape, seed: int) -> int:
    """Write every file into `out` and return the parameter count."""
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(shape.vocab_size, seed)
    tokenizer.save(str(out / "tokenizer.json"))
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)

    config = model_config(shape, vocab_size)
    write_json(out / "config.json", config)
    ids = ("bos_token_id", "eos_token_id", "pad_token_id")
    write_json(out / "generation_config.json", {key: config[key] for key in ids})
    write_json(out / "tokenizer_config.json", tokenizer_config(shape.max_positions))
    specials = {"bos_token": ENDOFTEXT, "eos_token": IM_END, "pad_token": ENDOFTEXT}
    write_json(out / "special_tokens_map.json", specials)

    weights = random_weights(shape, vocab_size, seed)
    # "pt" tells transformers these are PyTorch-layout tensors.
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    return sum(tensor.size for tensor in weights.values())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocab-size", type=int, default=Shape.vocab_size)
    parser.add_argument("--hidden-size", type=int, default=Shape.hidden_size)
    parser.add_argument("--layers", type=int, default=Shape.num_layers)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    # RoPE rotates pairs of dimensions, so each head needs an even width.
    if args.hidden_size % (2 * Shape.num_heads):
        raise SystemExit(f"--hidden-size must be a multiple of {2 * Shape.num_heads}")

    shape = Shape(
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        intermediate_size=2 * args.hidden_size,
        num_layers=args.layers,
    )
    params = write_model(args.out, shape, args.seed)
    print(f"wrote tiny Llama ({params} parameters) to {args.out}")


if __name__ == "__main__":
    main()
