# MaBERT's tokenizer for Hugging Face transformers (trust_remote_code), written by
# `mabert export --format hf`: the very SentencePiece model the C++ tool trained and used, with
# its special tokens at fixed ids ([PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4), and the C++
# tokenizer's framing: [CLS] a [SEP] (b [SEP]), segment ids 0 for [CLS] a [SEP] and 1 for b [SEP],
# and longest-first truncation that drops from the end of the longer part (the first on a tie).
# Text goes to SentencePiece whole, as in C++ (special-token strings in text are not split out).
import os
import shutil

import sentencepiece as spm
from transformers import PreTrainedTokenizer


class MabertTokenizer(PreTrainedTokenizer):
    vocab_files_names = {"vocab_file": "tokenizer.model"}
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]

    def __init__(self, vocab_file, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                 mask_token="[MASK]", **kwargs):
        self.vocab_file = vocab_file
        self.sp_model = spm.SentencePieceProcessor()
        self.sp_model.Load(vocab_file)
        for i, piece in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]):
            if self.sp_model.piece_to_id(piece) != i:
                raise ValueError(f"{vocab_file}: special token {piece} is not at id {i}")
        kwargs.setdefault("split_special_tokens", True)
        kwargs.setdefault("model_max_length", 512)
        super().__init__(pad_token=pad_token, unk_token=unk_token, cls_token=cls_token, sep_token=sep_token,
                         mask_token=mask_token, **kwargs)

    @property
    def vocab_size(self):
        return self.sp_model.get_piece_size()

    def get_vocab(self):
        return {self.sp_model.id_to_piece(i): i for i in range(self.vocab_size)}

    def _tokenize(self, text, **kwargs):
        return self.sp_model.encode(text, out_type=str)

    def _convert_token_to_id(self, token):
        return self.sp_model.piece_to_id(token)

    def _convert_id_to_token(self, index):
        return self.sp_model.id_to_piece(index)

    def convert_tokens_to_string(self, tokens):
        return self.sp_model.decode_pieces(tokens)

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        out = [self.cls_token_id] + token_ids_0 + [self.sep_token_id]
        return out if token_ids_1 is None else out + token_ids_1 + [self.sep_token_id]

    def create_token_type_ids_from_sequences(self, token_ids_0, token_ids_1=None):
        first = [0] * (len(token_ids_0) + 2)
        return first if token_ids_1 is None else first + [1] * (len(token_ids_1) + 1)

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False):
        if already_has_special_tokens:
            return [1 if t in (self.cls_token_id, self.sep_token_id) else 0 for t in token_ids_0]
        out = [1] + [0] * len(token_ids_0) + [1]
        return out if token_ids_1 is None else out + [0] * len(token_ids_1) + [1]

    def num_special_tokens_to_add(self, pair=False):
        return 3 if pair else 2

    def truncate_sequences(self, ids, pair_ids=None, num_tokens_to_remove=0, truncation_strategy="longest_first",
                           stride=0):
        if num_tokens_to_remove <= 0 or pair_ids is None or str(getattr(truncation_strategy, "value",
                                                                          truncation_strategy)) != "longest_first":
            return super().truncate_sequences(ids, pair_ids, num_tokens_to_remove, truncation_strategy, stride)
        ids, pair_ids = list(ids), list(pair_ids)
        for _ in range(num_tokens_to_remove):  # as the C++ tokenizer: one piece at a time from the longer part
            (ids if len(ids) >= len(pair_ids) else pair_ids).pop()
        return ids, pair_ids, []

    def save_vocabulary(self, save_directory, filename_prefix=None):
        name = (filename_prefix + "-" if filename_prefix else "") + "tokenizer.model"
        out = os.path.join(save_directory, name)
        if os.path.abspath(self.vocab_file) != os.path.abspath(out):
            shutil.copyfile(self.vocab_file, out)
        return (out,)
