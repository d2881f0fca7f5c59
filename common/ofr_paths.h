/*  ofr_paths.h -- where offramp looks for plugins, models and data.

    Each search path is ':'-separated. The user's setting wins (flag, then
    environment variable); the defaults cover a build tree (build/offramp
    next to the project's data/ and models/, with ../shared beside the
    project) and an installed layout. */
#ifndef OFR_PATHS_H
#define OFR_PATHS_H

#include <stddef.h>

/* Directory holding the running executable (no trailing '/'); caller frees. */
char *ofr_exe_dir (void);

/* Search path for data sets: $OFFRAMP_DATA, else
   <exe>/../data:<exe>/../../shared/data:./data:../shared/data. Caller frees. */
char *ofr_default_data_path (void);

/* Search path for models: $OFFRAMP_MODELS, else
   <exe>/../models:<exe>/../../shared/models:./models:../shared/models. */
char *ofr_default_models_path (void);

/* First directory D of `path` such that D/sub exists; writes D/sub into a
   new string (*out). Returns 0, or -1 with a message listing where it
   looked. */
int ofr_path_find (const char *path, const char *sub, char **out,
                   char *err, size_t errlen);

/* Like ofr_path_find, but writes the directory D itself (the root that
   holds `sub`): what a suite's load() takes as its data_dir. */
int ofr_path_find_root (const char *path, const char *sub, char **root,
                        char *err, size_t errlen);

/* The last component of path, trailing '/' ignored ("models/sst2/" ->
   "sst2"): the name a model directory goes by. Caller frees; NULL on OOM. */
char *ofr_path_basename (const char *path);

/* dir + "/" + leaf as a new string (no doubled '/' when dir is "/").
   Caller frees; NULL on OOM. */
char *ofr_path_join (const char *dir, const char *leaf);

#endif
