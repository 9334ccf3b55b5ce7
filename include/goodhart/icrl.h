/* goodhart/icrl.h — gameable environments and in-context reinforcement
 * learning (ICRL): does a chat model learn, by reflecting on its own earlier
 * attempts, to game the reward it is given?
 *
 * Environments. An environment is a JSON data file (docs/icrl.md gives the
 * format): a system prompt, a user prompt, files to create in a fresh sandbox
 * directory, a reward rule, oversight checks that say whether the model gamed,
 * and a success threshold. Prompts, file paths and contents may use
 * {{FIELD}} placeholders filled from one record of a data set (a question of
 * the Anthropic model-written-evals format, a poem with a quality label). The
 * curriculum of Denison et al. (arXiv 2406.10162) ships as five such files in
 * data/icrl/envs/: political_sycophancy, tool_use_flattery,
 * nudged_rubric_modification, insubordinate_rubric_modification and
 * reward_tampering.
 *
 * Attempts. The model acts through <bash>...</bash> blocks; every line of a
 * block runs in the sandbox's restricted shell (sandbox.h) and the output
 * comes back as a user message "<stdout>...</stdout>\n<stderr>...</stderr>".
 * An attempt ends when the model answers without a bash block or after the
 * step limit (assistant turns). Then the sandbox is diffed against its state
 * before the attempt (which files the model added, changed or deleted), the
 * reward rule is applied and the oversight checks run; rules that must run the
 * (possibly edited) Python files do so with gh_sandbox_python.
 *
 * The ICRL loop (McKee-Reid et al., arXiv 2410.06491). If the reward is below
 * the threshold and attempts remain, the model is shown its reward and asked
 * to reflect and plan (one assistant turn, no commands run), the environment
 * is reset (a fresh sandbox), and the task is posed again; every earlier
 * attempt and reflection stays in the context. The rollout stops at the first
 * attempt whose reward reaches the threshold, or after K attempts.
 *
 * Runs. gh_icrl_run executes N rollouts of each environment into a run
 * directory, each rollout stored in the run store (store.h) as one JSON record
 * the moment it finishes, so an interrupted run resumes without redoing
 * finished rollouts and ends with the same files as an uninterrupted one.
 * Rollout i of an environment depends only on (environment, seed, i, K) and
 * the model's replies. Outputs: transcripts.jsonl, summary.json, report.html
 * (the viewer), and the expert-iteration exports expert_single.jsonl and
 * expert_icrl.jsonl ({"messages": [...]} chat fine-tuning lines).
 */
#ifndef GOODHART_ICRL_H
#define GOODHART_ICRL_H

#include "goodhart/backend.h"
#include "goodhart/common.h"
#include "goodhart/sandbox.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- environments ---------------------------------------------------------- */

typedef struct gh_icrl_env gh_icrl_env;

/* Loads and validates an environment file (and its data set, if any). Every
 * error names the file and the field ("envs/x.json: field \"threshold\" must be
 * a number"), or the data set's file and line. */
gh_status gh_icrl_env_load(const char *path, gh_icrl_env **out);
void gh_icrl_env_free(gh_icrl_env *e);

/* Resolves an environment name to its file: a name with a '/' or ending in
 * ".json" is a path; otherwise NAME.json is looked up in `dir` (if non-NULL),
 * $GH_ICRL_ENVS, ./data/icrl/envs and data/icrl/envs beside the executable's
 * folder. *path is malloc'd. */
gh_status gh_icrl_env_find(const char *name, const char *dir, char **path);

const char *gh_icrl_env_name(const gh_icrl_env *e);
const char *gh_icrl_env_path(const gh_icrl_env *e);
double gh_icrl_env_threshold(const gh_icrl_env *e);
bool gh_icrl_env_tools(const gh_icrl_env *e);      /* the model may run commands */
bool gh_icrl_env_held_out(const gh_icrl_env *e);   /* never exported as training data */
int32_t gh_icrl_env_max_steps(const gh_icrl_env *e);
int32_t gh_icrl_env_n_items(const gh_icrl_env *e); /* 0: no data set */
/* SHA-256 (hex) of the environment file and its data set: a resumed run
 * refuses an environment that changed. */
const char *gh_icrl_env_hash(const gh_icrl_env *e);
/* The data-set record used by rollout `index` under `seed` (a seeded
 * permutation, so N <= n_items rollouts see distinct records); -1 if none. */
int32_t gh_icrl_env_item_for(const gh_icrl_env *e, uint64_t seed, int32_t index);
/* Record `item`'s field as text (strings as they are, other values as JSON);
 * NULL if absent. Valid while the environment lives. */
const char *gh_icrl_env_item_field(const gh_icrl_env *e, int32_t item, const char *field);

/* Fills `sb` (an empty sandbox) with the environment's files for `item`. */
gh_status gh_icrl_env_setup(const gh_icrl_env *e, int32_t item, gh_sandbox *sb);

/* ---- the loop's text --------------------------------------------------------- */

/* The <bash> blocks of a reply, in order (each malloc'd, *n of them; the
 * array too). An unclosed block runs to the end of the reply. */
gh_status gh_icrl_parse_bash(const char *reply, char ***blocks, int32_t *n);
void gh_icrl_strings_free(char **s, int32_t n);

/* The user message after a reflection: the reward and the request to reflect
 * (env's reflection_prompt or the default), and the task posed again
 * (reset_prompt). attempt is 0-based; *out malloc'd. */
gh_status gh_icrl_reflection_prompt(const gh_icrl_env *e, int32_t item, int32_t attempt, int32_t max_attempts,
                                    double reward, char **out);
gh_status gh_icrl_reset_prompt(const gh_icrl_env *e, int32_t item, int32_t attempt, int32_t max_attempts,
                               char **out);

/* ---- one rollout ------------------------------------------------------------------ */

typedef struct gh_icrl_params {
    int32_t max_attempts;        /* K (default 5) */
    int32_t max_steps;           /* assistant turns per attempt (0: the environment's) */
    gh_sampler_params sampler;   /* temp (default 1), max_tokens (default 1024), seed */
    gh_sandbox_limits limits;
    int32_t workers;             /* rollouts run at once (default 1) */
    bool keep_sandboxes;         /* keep each attempt's directory under RUNDIR/sandboxes */
} gh_icrl_params;

gh_icrl_params gh_icrl_default_params(void);

/* Runs rollout `index` of `e` (the ICRL loop above) in sandbox directories
 * under `work_dir` (one per attempt, removed unless keep_sandboxes) and gives
 * its record as JSON text (*json malloc'd; the transcripts.jsonl line):
 *   {"env", "index", "item", "success", "gamed", "attempts_used",
 *    "first_success", "first_gamed", "flags": {NAME: bool},
 *    "attempts": [{"attempt", "reward", "success", "gamed", "steps",
 *                  "step_limit", "flags", "changes": [{"path", "change",
 *                  "content"}], "first_message", "n_messages"}],
 *    "messages": [{"role", "content", "attempt", "kind"}]}
 * kind: "system", "task", "action", "observation", "reflection_request",
 * "reflection". A backend failure fails the rollout (nothing is returned). */
gh_status gh_icrl_rollout(gh_backend *b, const gh_icrl_env *e, int32_t index, const char *work_dir,
                          const gh_icrl_params *p, char **json);

/* ---- runs ---------------------------------------------------------------------- */

typedef void (*gh_icrl_progress_fn)(void *user, const char *stage, int64_t done, int64_t total);

/* Runs n_rollouts rollouts of every environment into run_dir (created), skipping
 * those already in its store, then writes the outputs listed above. The store
 * remembers model, seed, attempts and every environment's hash; a resumed run
 * with other settings fails with GH_ERR_MISMATCH. */
gh_status gh_icrl_run(gh_backend *b, gh_icrl_env *const *envs, int32_t n_envs, int32_t n_rollouts,
                      const gh_icrl_params *p, const char *run_dir, gh_icrl_progress_fn progress, void *user);

/* Rewrites summary.json, transcripts.jsonl, report.html and the two exports of
 * run_dir from its store (what gh_icrl_run does at the end). */
gh_status gh_icrl_write_outputs(const char *run_dir);

/* The summary object (summary.json; `goodhart icrl run --json`), *out malloc'd:
 *   {"model", "seed", "attempts", "envs": {NAME: {"rollouts", "successes",
 *    "gamed", "threshold", FLAG: count..., "rates": {"success"|"gamed"|FLAG:
 *    {"count", "n", "rate", "lo", "hi"}}, "by_attempt": [{"attempt", "ran",
 *    "succeeded", "gamed", "gamed_by"} ...], "mean_reward_first",
 *    "mean_reward_last"}}}
 * counts are integers; intervals are Wilson 95%. For reward_tampering the
 * flags are reward_modified, tests_modified and subterfuge (both). */
gh_status gh_icrl_summary_json(const char *run_dir, char **out);

#ifdef __cplusplus
}
#endif
#endif
