"""Names and widths of a network's RTL that the top module, the datapath and the summary share."""

from __future__ import annotations

import numpy as np

from codesign.ir.qnet import Reshape
from codesign.rtl.names import Word, module_name


class Layout:
    def __init__(self, qnet, word_list: list[Word]):
        self.qnet = qnet
        self.words = word_list
        self.top = module_name(qnet.name)
        self.dp = f"{self.top}_datapath"
        self.by_tensor: dict[tuple[int, str], list[Word]] = {}
        for wd in word_list:
            self.by_tensor.setdefault((wd.layer_index, wd.tensor), []).append(wd)
        self.n_words = len(word_list)
        self.addr_width = max(1, int(self.n_words - 1).bit_length())
        self.data_width = max([wd.type.width for wd in word_list], default=1)
        self.in_width = qnet.input_type.width
        self.n_in = int(np.prod(qnet.input_shape, dtype=np.int64))
        self.n_out = int(np.prod(qnet.output_shape, dtype=np.int64))
        self.out_width = qnet.output_type.width
        self.latency = sum(not isinstance(layer, Reshape) for layer in qnet.layers)
