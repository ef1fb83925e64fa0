from __future__ import annotations

from smg.sim.sampler import VOCAB, mix_seed, sample, token_ids


def test_vocabulary_size_is_a_power_of_two() -> None:
    assert len(VOCAB) & (len(VOCAB) - 1) == 0
    assert len(set(VOCAB)) == len(VOCAB)


def test_same_seed_same_answer_and_other_seed_other_answer() -> None:
    assert sample(7, 20) == sample(7, 20)
    assert sample(7, 20).text != sample(8, 20).text


def test_longer_answer_extends_shorter_one() -> None:
    assert token_ids(3, 100)[:10] == token_ids(3, 10)
    assert len(token_ids(3, 100)) == 100 and token_ids(3, 0) == []


def test_answer_without_stop_ends_by_length() -> None:
    answer = sample(1, 12)
    assert answer.finish_reason == "length"
    assert len(answer.token_ids) == len(answer.pieces) == 12
    assert answer.text == "".join(answer.pieces)


def test_stop_string_cuts_the_answer_before_it() -> None:
    full = sample(1, 30)
    stop = full.pieces[5] + full.pieces[6]
    answer = sample(1, 30, stop=[stop, "never-there"])
    assert answer.finish_reason == "stop" and answer.matched_stop == stop
    assert answer.text == full.text[: full.text.find(stop)]
    assert "".join(answer.pieces) == answer.text


def test_mix_seed_is_order_sensitive_and_64_bit() -> None:
    assert mix_seed(1, 2) != mix_seed(2, 1)
    assert 0 <= mix_seed(-1, 2**70) < 2**64
