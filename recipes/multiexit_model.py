"""Multi-exit BERT encoder in plain torch whose state_dict names are Hugging
Face BertForSequenceClassification names (bert.*) plus DeeBERT-shaped exit
heads (exits.{i}.*), as docs/CHECKPOINTS.md describes.

The arithmetic is HF BertModel's (post-LN, erf GELU, eps 1e-12, additive
padding mask of finfo.min) so that the C runtime reproduces it."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Cfg:
    def __init__(self, vocab_size, num_labels, hidden=128, layers=6, heads=4,
                 intermediate=512, max_pos=128, type_vocab=2, dropout=0.1,
                 eps=1e-12):
        self.vocab_size = vocab_size
        self.num_labels = num_labels
        self.hidden = hidden
        self.layers = layers
        self.heads = heads
        self.intermediate = intermediate
        self.max_pos = max_pos
        self.type_vocab = type_vocab
        self.dropout = dropout
        self.eps = eps


class _Ns(nn.Module):
    """Attribute-only container so parameter names follow HF's nesting."""


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(c.max_pos, c.hidden)
        self.token_type_embeddings = nn.Embedding(c.type_vocab, c.hidden)
        self.LayerNorm = nn.LayerNorm(c.hidden, eps=c.eps)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, ids, types):
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = (self.word_embeddings(ids) + self.position_embeddings(pos)
             + self.token_type_embeddings(types))
        return self.drop(self.LayerNorm(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c.heads
        self.attention = _Ns()
        self.attention.self = _Ns()
        self.attention.self.query = nn.Linear(c.hidden, c.hidden)
        self.attention.self.key = nn.Linear(c.hidden, c.hidden)
        self.attention.self.value = nn.Linear(c.hidden, c.hidden)
        self.attention.output = _Ns()
        self.attention.output.dense = nn.Linear(c.hidden, c.hidden)
        self.attention.output.LayerNorm = nn.LayerNorm(c.hidden, eps=c.eps)
        self.intermediate = _Ns()
        self.intermediate.dense = nn.Linear(c.hidden, c.intermediate)
        self.output = _Ns()
        self.output.dense = nn.Linear(c.intermediate, c.hidden)
        self.output.LayerNorm = nn.LayerNorm(c.hidden, eps=c.eps)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x, add_mask):
        b, t, h = x.shape
        d = h // self.heads
        sa = self.attention.self

        def split(y):
            return y.view(b, t, self.heads, d).transpose(1, 2)

        q, k, v = split(sa.query(x)), split(sa.key(x)), split(sa.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + add_mask
        probs = self.drop(torch.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, h)
        ao = self.attention.output
        a = ao.LayerNorm(self.drop(ao.dense(ctx)) + x)
        inter = F.gelu(self.intermediate.dense(a))
        return self.output.LayerNorm(self.drop(self.output.dense(inter)) + a)


class ExitHead(nn.Module):
    """DeeBERT highway: tanh(dense(h_cls)) -> dropout -> classifier."""

    def __init__(self, c):
        super().__init__()
        self.pooler = _Ns()
        self.pooler.dense = nn.Linear(c.hidden, c.hidden)
        self.classifier = nn.Linear(c.hidden, c.num_labels)
        self.drop = nn.Dropout(c.dropout)

    def pooled(self, h_cls):
        return torch.tanh(self.pooler.dense(h_cls))

    def forward(self, h_cls):
        return self.classifier(self.drop(self.pooled(h_cls)))


class MultiExitBert(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cfg = c
        self.bert = _Ns()
        self.bert.embeddings = Embeddings(c)
        self.bert.encoder = _Ns()
        self.bert.encoder.layer = nn.ModuleList([Layer(c) for _ in range(c.layers)])
        self.exits = nn.ModuleList([ExitHead(c) for _ in range(c.layers)])
        self.apply(self._init)

    @staticmethod
    def _init(m):
        # HF BertPreTrainedModel._init_weights with initializer_range 0.02.
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
            if m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def cls_states(self, ids, types, mask):
        """[CLS] hidden state after every layer: list of [B, H]."""
        add = (1.0 - mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        x = self.bert.embeddings(ids, types)
        out = []
        for layer in self.bert.encoder.layer:
            x = layer(x, add)
            out.append(x[:, 0])
        return out

    def forward(self, ids, types, mask):
        """Logits of every exit: list of [B, num_labels]."""
        hs = self.cls_states(ids, types, mask)
        return [head(h) for head, h in zip(self.exits, hs)]
