// The options every mlci pipeline takes, checked and completed with their defaults
// (vars/mlciOptions.txt lists them). `step` names the pipeline in error messages.
Map call(Map config, String step, List<String> required = []) {
    Map defaults = [
        // Names the project on a shared controller: the lock `<project>-model-registry`.
        project: '',
        // Label of the Docker-capable agents every stage runs on.
        agentLabel: 'docker',
        // How mlci gets onto the agent: a pip requirement (a wheel URL or path, `mlci==1.2.0`).
        // Empty: this repository's own `scripts/venv.sh` (mlci's own builds).
        mlciInstall: '',
        // A constraints file for that install (URL or path; `mlci` ships its lock).
        mlciConstraints: '',
        // mlci's own repository: also run `make lint` and its unit tests.
        repositoryChecks: false,
        // Registered model the deploy pipeline offers by default (MODEL_NAME).
        modelName: '',
    ]
    List<String> unknown = config.keySet().findAll { key -> !defaults.containsKey(key) } as List<String>
    if (unknown) {
        error("${step}: unknown option(s) ${unknown.join(', ')}; known: ${defaults.keySet().join(', ')}")
    }
    Map cfg = defaults + config
    for (String key in (['project'] + required)) {
        if (!cfg[key]) {
            error("${step}: option ${key} is required (see the step's help, vars/${step}.txt)")
        }
    }
    if (!(cfg.project ==~ /[a-z0-9][a-z0-9-]*/)) {
        error("${step}: project '${cfg.project}' must be lower-case letters, digits and dashes")
    }
    return cfg
}
