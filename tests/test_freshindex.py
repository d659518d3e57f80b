"""FreshIndex (the store's in-memory map of fresh fingerprints) against a dict: the same
answers over random operations, keys that share their low bits (long probe runs), the
table's growth (also inside a batch ``update``) and truncation (a rolled-back result), and
the entries in key order (a merge)."""
import random

import pytest

from spyder.core.store.freshindex import FreshIndex


def _check_same(index, model, absent):
    assert len(index) == len(model)
    assert list(index) == list(model)  # keys in insertion order
    for key, value in model.items():
        assert index.get(key) == value
        assert index[key] == value
    found, missing = index.lookup(list(model) + absent)
    assert found == model and missing == absent
    for key in absent:
        assert index.get(key) is None
        assert index.get(key, -1) == -1
        with pytest.raises(KeyError):
            index[key]
    if all(value >= 0 for value in model.values()):
        ordered = index.in_key_order()
        assert len(ordered) == len(model)
        assert list(ordered.items()) == sorted(model.items())
        assert list(ordered.keys()) == sorted(model)
        for last in sorted(model)[::max(1, len(model) // 7)] + [-(1 << 63), (1 << 63) - 1]:
            stop = ordered.after(last)
            assert list(ordered.keys(0, stop)) == [key for key in sorted(model) if key <= last]
            assert list(ordered.items(stop)) == [item for item in sorted(model.items())
                                                 if item[0] > last]


@pytest.mark.parametrize("seed", range(4))
def test_a_fresh_index_answers_as_a_dict_does(seed):
    rng = random.Random(seed)
    # half the keys random 64-bit signed, half sharing their low 12 bits: probe runs
    keys = [rng.getrandbits(64) - (1 << 63) for _ in range(3000)]
    keys += [(rng.getrandbits(52) << 12) - (1 << 63) | 0x5A5 for _ in range(3000)]
    rng.shuffle(keys)
    index, model, order = FreshIndex(), {}, []
    for step, key in enumerate(keys):
        roll = rng.random()
        if roll < 0.05 and order:  # an existing key again: set or setdefault
            old = rng.choice(order)
            if roll < 0.025:
                index[old] = model[old] = step * 1000003  # values of every length
            else:
                assert index.setdefault(old, -step) == model.setdefault(old, -step)
        elif roll < 0.06 and order:  # a rolled-back result: drop the newest entries
            keep = rng.randrange(len(order) + 1)
            index.truncate(keep)
            for gone in order[keep:]:
                del model[gone]
            del order[keep:]
        elif roll < 0.1:  # a batch (``update``): the key, existing ones, the key again
            batch = [key] + rng.sample(order, min(3, len(order))) + [key]
            values = [step * 1000003 + n for n in range(len(batch))]
            index.update(batch, values)
            for one, value in zip(batch, values):
                if one not in model:
                    order.append(one)
                model[one] = value
        elif key not in model:
            if roll < 0.5:
                index[key] = model[key] = step
            else:
                assert index.setdefault(key, step) == model.setdefault(key, step) == step
            order.append(key)
    absent = [rng.getrandbits(64) - (1 << 63) for _ in range(500)] + \
        [key for key in keys if key not in model][:500]
    _check_same(index, model, absent)


def test_the_extremes_of_a_signed_64_bit_key_and_value_are_kept():
    index = FreshIndex()
    extremes = [-(1 << 63), (1 << 63) - 1, 0, -1, 1]
    for n, key in enumerate(extremes):
        index[key] = extremes[-1 - n]
    _check_same(index, {key: extremes[-1 - n] for n, key in enumerate(extremes)}, [2, -2])
    with pytest.raises(ValueError, match="values >= 0, not -9223372036854775808"):
        index.in_key_order()
    positive = FreshIndex()
    for key in extremes:
        positive[key] = (1 << 63) - 1 if key < 0 else key & 0xFF
    assert list(positive.in_key_order().items()) == sorted(
        (key, (1 << 63) - 1 if key < 0 else key & 0xFF) for key in extremes)
    assert list(FreshIndex().in_key_order().items()) == []


def test_truncating_to_nothing_or_beyond_the_end():
    index = FreshIndex()
    for key in range(100):
        index[key * 7919] = key
    index.truncate(1000)
    assert len(index) == 100
    index.truncate(0)
    _check_same(index, {}, [key * 7919 for key in range(100)])
    index[5] = 6
    _check_same(index, {5: 6}, [0])


def test_one_batch_update_grows_the_table_as_often_as_it_needs():
    index = FreshIndex()
    keys = [key * 0x9E3779B97F4A7C15 % (1 << 64) - (1 << 63) for key in range(5000)]
    index.update(keys, range(5000))  # 1,024 slots at first: four rebuilds inside the call
    index.update(keys[:10] + [7], [-1] * 10 + [8])
    model = dict(zip(keys, range(5000)))
    model.update(dict.fromkeys(keys[:10], -1))
    model[7] = 8
    _check_same(index, model, [3, 5])
