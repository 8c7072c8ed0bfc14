# MaBERT configuration for Hugging Face transformers (trust_remote_code), written by
# `mabert export --format hf`. The fields are the C++ ModelConfig's, with the same names and
# meanings (docs/MODEL.md in MaBERT Studio); transformers' standard names map onto them.
from transformers import PretrainedConfig


class MabertConfig(PretrainedConfig):
    model_type = "mabert"
    attribute_map = {
        "hidden_size": "d_model",
        "num_attention_heads": "n_heads",
        "intermediate_size": "d_ffn",
        "max_position_embeddings": "max_len",
    }

    def __init__(
        self,
        schedule="MMTMMTMMTMMT",
        vocab_size=30522,
        d_model=768,
        n_heads=12,
        d_ffn=3072,
        max_len=512,
        position="learned",
        type_vocab_size=2,
        layer_norm_eps=1e-5,
        dropout=0.1,
        token_shift=False,
        embed_dim=0,
        share_layers=False,
        d_state=16,
        expand=2,
        d_conv=4,
        dt_rank=0,
        conv="causal",
        psm_pre=True,
        psm_post=True,
        psm_state=True,
        pooling="map",
        head="none",
        num_labels=2,
        pad_token_id=0,
        **kwargs,
    ):
        self.schedule = schedule
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_ffn = d_ffn
        self.max_len = max_len
        self.position = position
        self.type_vocab_size = type_vocab_size
        self.layer_norm_eps = layer_norm_eps
        self.dropout = dropout
        self.token_shift = token_shift
        self.embed_dim = embed_dim
        self.share_layers = share_layers
        self.d_state = d_state
        self.expand = expand
        self.d_conv = d_conv
        self.dt_rank = dt_rank
        self.conv = conv
        self.psm_pre = psm_pre
        self.psm_post = psm_post
        self.psm_state = psm_state
        self.pooling = pooling
        self.head = head
        if head == "regression":
            kwargs.setdefault("problem_type", "regression")
            num_labels = 1
        super().__init__(num_labels=num_labels, pad_token_id=pad_token_id, **kwargs)

    @property
    def num_hidden_layers(self):
        return len(self.schedule)

    @property
    def resolved_dt_rank(self):
        return self.dt_rank if self.dt_rank > 0 else (self.d_model + 15) // 16

    @property
    def d_inner(self):
        return self.expand * self.d_model

    @property
    def resolved_embed_dim(self):
        return self.embed_dim if self.embed_dim > 0 else self.d_model
