# MaBERT for Hugging Face transformers (trust_remote_code), written by `mabert export --format hf`.
#
# Plain PyTorch, no compiled extension: the same computation as MaBERT Studio's C++ model
# (core/model/), parameter for parameter, so an exported checkpoint gives the C++ model's hidden
# states, pooled vector and logits (fp32, within 1e-5). Layer letters: T (Pre-LN attention + FFN),
# M (Pre-LN selective SSM + FFN, forward scan), B (forward and reverse scans summed), P (attention
# and SSM on one normalised input, averaged). Padding-safe masking (PSM) at three levels: pre
# (the SSM input is zero on pads), state (a pad is an identity step of the scan), post (a layer's
# output is zero on pads). Mask-aware attention pooling (MAP) gives pads exactly zero weight.
#
# Shapes: B batch, L length, D d_model, C = expand * D inner channels, N d_state, R dt_rank.
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput, SequenceClassifierOutput
from transformers.utils import ModelOutput

from .configuration_mabert import MabertConfig


@dataclass
class MabertModelOutput(ModelOutput):
    last_hidden_state: torch.FloatTensor = None  # {B, L, D} after the final LayerNorm
    pooler_output: torch.FloatTensor = None  # {B, D}
    pool_weights: torch.FloatTensor = None  # {B, L} the pooling's weights (MAP: exactly 0 on pads)
    hidden_states: Optional[Tuple[torch.FloatTensor, ...]] = None  # embeddings, then each layer
    attentions: Optional[Tuple[Optional[torch.FloatTensor], ...]] = None  # {B, H, L, L} for T/P layers, None otherwise


class MabertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        e = config.resolved_embed_dim
        self.tok = nn.Embedding(config.vocab_size, e)
        self.pos = nn.Embedding(config.max_len, e) if config.position == "learned" else None
        self.seg = nn.Embedding(config.type_vocab_size, e) if config.type_vocab_size > 0 else None
        self.norm = nn.LayerNorm(e, eps=config.layer_norm_eps)
        self.proj = nn.Linear(e, config.d_model) if e != config.d_model else None
        # token_shift: the previous token's embedding, mapped (a pad contributes nothing)
        self.shift = nn.Linear(e, e) if getattr(config, "token_shift", False) else None
        self.drop = nn.Dropout(config.dropout)

    def forward(self, ids, segments, mask):
        x = self.tok(ids)
        if self.pos is not None:
            if ids.size(1) > self.pos.num_embeddings:
                raise ValueError(f"sequence length {ids.size(1)} exceeds the model's max_len {self.pos.num_embeddings}")
            # Positions count valid tokens only, so left padding does not shift a sentence's positions.
            if mask is not None:
                pos_ids = (mask.long().cumsum(1) - 1).clamp_min(0)
            else:
                pos_ids = torch.arange(ids.size(1), device=ids.device).unsqueeze(0).expand_as(ids)
            x = x + self.pos(pos_ids)
        if self.seg is not None:
            x = x + self.seg(segments if segments is not None else torch.zeros_like(ids))
        if self.shift is not None:
            prev = nn.functional.pad(self.tok(ids), (0, 0, 1, 0))[:, :-1]
            if mask is not None:
                prev = prev * nn.functional.pad(mask, (1, 0))[:, :-1].unsqueeze(-1).to(prev.dtype)
            x = x + self.shift(prev)
        x = self.norm(x)
        if self.proj is not None:
            x = self.proj(x)
        return self.drop(x)


class MabertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_heads = config.n_heads
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.out = nn.Linear(config.d_model, config.d_model)

    def forward(self, x, attn_bias, want_probs):
        b, l, d = x.shape
        dh = d // self.n_heads
        q, k, v = self.qkv(x).view(b, l, 3, self.n_heads, dh).permute(2, 0, 3, 1, 4).unbind(0)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(dh)
        if attn_bias is not None:
            scores = scores + attn_bias  # 0 on valid keys, -inf on pad keys
        probs = torch.softmax(scores, -1)
        y = torch.matmul(F.dropout(probs, self.dropout, self.training), v)
        return self.out(y.transpose(1, 2).reshape(b, l, d)), (probs if want_probs else None)


class MabertFeedForward(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, config.d_ffn)
        self.fc2 = nn.Linear(config.d_ffn, config.d_model)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.drop(self.fc2(F.gelu(self.fc1(x))))


def selective_scan(u, delta, A, Bm, Cm, D, z, delta_bias, mask, reverse):
    """The selective scan, as a readable loop over time (all arithmetic in fp32).

    u, delta, z: {B, C, L}; A: {C, N}; Bm, Cm: {B, N, L}; D, delta_bias: {C}; mask: {B, L} or None.
      delta <- softplus(delta + delta_bias), and 0 on pads (a pad is an identity step: the state passes)
      h_t = exp(delta_t A) * h_{t-1} + delta_t B_t u_t ;  y_t = C_t . h_t + D u_t ;  y <- y * SiLU(z)
    Returns y {B, C, L}, the states {B, C, L, N} and the effective delta {B, C, L}.
    """
    dtype = u.dtype
    u, delta = u.float(), delta.float()
    delta = F.softplus(delta + delta_bias.float().view(1, -1, 1))
    if mask is not None:
        delta = delta * mask.float().unsqueeze(1)
    A = A.float()
    Bt, Ct = Bm.float().transpose(1, 2), Cm.float().transpose(1, 2)  # {B, L, N}
    length = u.size(2)
    h = u.new_zeros(u.size(0), u.size(1), A.size(1))  # {B, C, N}
    ys, hs = [None] * length, [None] * length
    for s in range(length):
        t = length - 1 - s if reverse else s
        d_t = delta[:, :, t].unsqueeze(-1)  # {B, C, 1}
        h = torch.exp(d_t * A) * h + (d_t * u[:, :, t].unsqueeze(-1)) * Bt[:, t].unsqueeze(1)
        ys[t] = (h * Ct[:, t].unsqueeze(1)).sum(-1)
        hs[t] = h
    y = torch.stack(ys, 2) + u * D.float().view(1, -1, 1)
    y = y * F.silu(z.float())
    return y.to(dtype), torch.stack(hs, 2), delta


class MabertScanBranch(nn.Module):
    """One scan direction: depth-wise conv, x_proj (delta, B, C), dt_proj, A_log, D."""

    def __init__(self, config):
        super().__init__()
        c, self.n, self.r, self.k = config.d_inner, config.d_state, config.resolved_dt_rank, config.d_conv
        self.centred = getattr(config, "conv", "causal") == "centred"
        self.conv = nn.Conv1d(c, c, self.k, groups=c, bias=True)
        self.x_proj = nn.Linear(c, self.r + 2 * self.n, bias=False)
        self.dt_proj = nn.Linear(self.r, c, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, self.n + 1, dtype=torch.float)).repeat(c, 1))
        self.D = nn.Parameter(torch.ones(c))

    def forward(self, x, z, mask, reverse):
        # x, z: {B, C, L}. The causal conv looks back K-1 steps; the reverse direction looks ahead
        # with the kernel flipped; the centred conv looks both ways ((K-1)//2 back, the rest ahead).
        k = self.k
        if self.centred:
            back = (k - 1) // 2
            pad, weight = ((back, k - 1 - back) if not reverse else (k - 1 - back, back)), self.conv.weight
            if reverse:
                weight = weight.flip(-1)
        elif not reverse:
            pad, weight = (k - 1, 0), self.conv.weight
        else:
            pad, weight = (0, k - 1), self.conv.weight.flip(-1)
        xc = F.silu(F.conv1d(F.pad(x, pad), weight, self.conv.bias, groups=x.size(1)))  # {B, C, L}
        dt, bm, cm = self.x_proj(xc.transpose(1, 2)).split([self.r, self.n, self.n], -1)
        delta = torch.matmul(dt, self.dt_proj.weight.t()).transpose(1, 2)  # {B, C, L}; its bias in the scan
        return selective_scan(xc, delta, -torch.exp(self.A_log), bm.transpose(1, 2), cm.transpose(1, 2), self.D, z,
                              self.dt_proj.bias, mask, reverse)


class MabertSsmCore(nn.Module):
    def __init__(self, config, bidirectional):
        super().__init__()
        self.bidirectional = bidirectional
        self.in_proj = nn.Linear(config.d_model, 2 * config.d_inner, bias=False)
        self.fwd = MabertScanBranch(config)
        self.bwd = MabertScanBranch(config) if bidirectional else None
        self.out_proj = nn.Linear(config.d_inner, config.d_model, bias=False)

    def forward(self, u, state_mask):
        x, z = self.in_proj(u).transpose(1, 2).chunk(2, 1)  # 2 x {B, C, L}
        y, states, delta = self.fwd(x, z, state_mask, False)
        trace = {"states": states, "delta": delta}
        if self.bwd is not None:
            y_b, trace["states_rev"], trace["delta_rev"] = self.bwd(x, z, state_mask, True)
            y = y + y_b
        return self.out_proj(y.transpose(1, 2)), trace


class MabertLayer(nn.Module):
    """One schedule letter: T, M, B or P (Pre-LN; PSM as configured)."""

    def __init__(self, config, letter):
        super().__init__()
        self.letter = letter
        self.norm1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.attn = MabertSelfAttention(config) if letter in "TP" else None
        self.ssm = MabertSsmCore(config, letter == "B") if letter in "MBP" else None
        self.norm2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.ffn = MabertFeedForward(config)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, h, ctx, want_probs):
        x = self.norm1(h)
        mask, mask3, psm = ctx["mask"], ctx["mask3"], ctx["psm"]
        probs, trace = None, None
        if self.letter == "T":
            a, probs = self.attn(x, ctx["attn_bias"], want_probs)
            h1 = h + self.drop(a)
            return h1 + self.ffn(self.norm2(h1)), probs, trace
        xs = x * mask3 if psm["pre"] and mask3 is not None else x  # Eq. 2: SSM(LN(H) * m)
        s, trace = self.ssm(xs, mask if psm["state"] else None)
        if self.letter == "P":
            a, probs = self.attn(x, ctx["attn_bias"], want_probs)
            s = 0.5 * (a + s)
        h1 = h + self.drop(s)
        h2 = h1 + self.ffn(self.norm2(h1))
        if psm["post"] and mask3 is not None:
            h2 = h2 * mask3  # Eq. 3
        return h2, probs, trace


class MabertPooling(nn.Module):
    """Mask-aware attention pooling (map, Eqs. 11-13) and the alternatives: attn, cls, mean, masked_mean."""

    def __init__(self, config):
        super().__init__()
        self.kind = config.pooling
        self.score = nn.Linear(config.d_model, 1) if self.kind in ("map", "attn") else None

    def forward(self, h, mask):
        b, l, _ = h.shape
        m = mask.to(h.dtype) if mask is not None else h.new_ones(b, l)
        if self.kind in ("map", "attn"):
            s = self.score(h).squeeze(-1).float()
            if self.kind == "map":
                s = s.masked_fill(m.float() == 0, -1e30)  # exp underflows to exactly 0 on pads
            w = torch.softmax(s, -1).to(h.dtype)
        elif self.kind == "cls":
            w = F.one_hot(m.argmax(1), l).to(h.dtype)  # the first valid token carries [CLS]
        elif self.kind == "mean":
            w = h.new_full((b, l), 1.0 / l)
        else:  # masked_mean
            w = m / m.sum(1, keepdim=True).clamp_min(1.0)
        return torch.bmm(w.unsqueeze(1), h).squeeze(1), w


class MabertMlmHead(nn.Module):
    """BERT-style MLM transform; the decoder is the token embedding matrix (tied by use, not by copy)."""

    def __init__(self, config):
        super().__init__()
        e = config.resolved_embed_dim
        self.dense = nn.Linear(config.d_model, e)
        self.norm = nn.LayerNorm(e, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, h, tok_weight):
        return F.linear(self.norm(F.gelu(self.dense(h))), tok_weight, self.bias)


class MabertPreTrainedModel(PreTrainedModel):
    config_class = MabertConfig
    base_model_prefix = "mabert"
    supports_gradient_checkpointing = False

    def _init_weights(self, module):
        # Only for weights a checkpoint lacks (a new task head): N(0, 0.02), zero bias, as the C++ model.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class MabertModel(MabertPreTrainedModel):
    _keys_to_ignore_on_load_unexpected = [r"^mlm\.", r"^head\."]  # the heads, when loading the encoder alone

    def __init__(self, config):
        super().__init__(config)
        letters = config.schedule
        unsupported = sorted(set(letters) - set("TMBP"))
        if unsupported:
            raise ValueError(f"schedule {letters}: layer letters {''.join(unsupported)} have no Python twin (T M B P only)")
        self.embeddings = MabertEmbeddings(config)
        # With share_layers, the first layer of each letter owns the weights and later ones reuse it
        # (ALBERT's sharing); only owners are in `layers`, as in the C++ model's parameter names.
        owners, self.layer_of = {}, []
        layers = []
        for letter in letters:
            if config.share_layers and letter in owners:
                self.layer_of.append(owners[letter])
                continue
            owners[letter] = len(layers)
            self.layer_of.append(len(layers))
            layers.append(MabertLayer(config, letter))
        self.layers = nn.ModuleList(layers)
        self.final_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.pooling = MabertPooling(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.tok

    def set_input_embeddings(self, value):
        self.embeddings.tok = value

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=None,
                output_attentions=None, ssm_trace_layer=-1, return_dict=None, **kwargs):
        """input_ids, attention_mask (1 = valid), token_type_ids: {B, L}. `ssm_trace_layer` >= 0 adds
        `ssm_trace` (the states and effective delta of that layer's scan) to the output."""
        cfg = self.config
        h = self.embeddings(input_ids, token_type_ids, attention_mask)
        ctx = {"mask": None, "mask3": None, "attn_bias": None,
               "psm": {"pre": cfg.psm_pre, "post": cfg.psm_post, "state": cfg.psm_state}}
        if attention_mask is not None:
            ctx["mask"] = attention_mask.to(h.dtype)
            ctx["mask3"] = ctx["mask"].unsqueeze(-1)
            bias = torch.zeros(attention_mask.shape, dtype=torch.float, device=h.device)
            ctx["attn_bias"] = bias.masked_fill(attention_mask == 0, float("-inf")).view(h.size(0), 1, 1, h.size(1))
        hidden_states = [h] if output_hidden_states else None
        attentions = [] if output_attentions else None
        trace = None
        for i, owner in enumerate(self.layer_of):
            h, probs, layer_trace = self.layers[owner](h, ctx, bool(output_attentions))
            if output_hidden_states:
                hidden_states.append(h)
            if output_attentions:
                attentions.append(probs)
            if i == ssm_trace_layer:
                trace = layer_trace
        hidden = self.final_norm(h)
        pooled, weights = self.pooling(hidden, ctx["mask"])
        out = MabertModelOutput(last_hidden_state=hidden, pooler_output=pooled, pool_weights=weights,
                                hidden_states=tuple(hidden_states) if hidden_states is not None else None,
                                attentions=tuple(attentions) if attentions is not None else None)
        if trace is not None:
            out["ssm_trace"] = trace
        return out


class MabertForMaskedLM(MabertPreTrainedModel):
    _keys_to_ignore_on_load_unexpected = [r"^head\."]

    def __init__(self, config):
        super().__init__(config)
        self.mabert = MabertModel(config)
        self.mlm = MabertMlmHead(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.mabert.embeddings.tok

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, output_hidden_states=None,
                output_attentions=None, return_dict=None, **kwargs):
        out = self.mabert(input_ids, attention_mask, token_type_ids, output_hidden_states, output_attentions)
        logits = self.mlm(out.last_hidden_state, self.mabert.embeddings.tok.weight)  # {B, L, V}
        loss = None
        if labels is not None:  # -100 = not predicted
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1), ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class MabertForSequenceClassification(MabertPreTrainedModel):
    _keys_to_ignore_on_load_unexpected = [r"^mlm\."]

    def __init__(self, config):
        super().__init__(config)
        self.mabert = MabertModel(config)
        self.head_drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.d_model, config.num_labels)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, output_hidden_states=None,
                output_attentions=None, return_dict=None, **kwargs):
        out = self.mabert(input_ids, attention_mask, token_type_ids, output_hidden_states, output_attentions)
        logits = self.head(self.head_drop(out.pooler_output))
        regression = self.config.num_labels == 1
        loss = None
        if labels is not None:
            if regression:
                loss = F.mse_loss(logits.squeeze(-1), labels.float())
            else:
                loss = F.cross_entropy(logits, labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                        attentions=out.attentions)
