# The KV recompute policy (issue 6): positions that exited early get the
# K/V of their missing layers computed lazily when a later token needs them
# (workers/models/kv_lazy.c, used by the decoder driver for methods whose
# KV policy is OFR_KV_RECOMPUTE); test: equals running the missing layers,
# FLOPs against a hand count.
target_sources(ofr_llama PRIVATE workers/models/kv_lazy.c)
ofr_add_test(test_kv_lazy SOURCES tests/unit/test_kv_lazy.c LIBS ofr_llama
             LABELS unit TIMEOUT 60)
