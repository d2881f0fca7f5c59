# CoQA (issue 6): the official-JSON reader and scorer as a decoder-LM
# generation suite, next to lm_suites.c in ofr_suites (62-decoder.cmake).
target_sources(ofr_suites PRIVATE suites/coqa.c)

# Reader, official normalisation / EM / F1 / leave-one-out on hand-made
# CoQA-layout files; the harness end to end on stories260K (skips without it).
ofr_add_test(test_coqa SOURCES tests/unit/test_coqa.c
             LIBS ofr_suites ${M_LIB} LABELS unit TIMEOUT 120)
