// The options every mlci pipeline takes, checked and completed with their defaults
// (vars/mlciOptions.txt lists them). `step` names the pipeline in error messages; `required`
// names the options that step needs besides `project`.
//   project          names the project on a shared controller: the lock `<project>-model-registry`
//   agentLabel       label of the Docker-capable agents every stage runs on
//   mlciInstall      how mlci gets onto the agent: a pip requirement (a wheel URL or path,
//                    `mlci==1.2.0`); empty: the checkout's scripts/venv.sh (mlci's own builds)
//   mlciConstraints  a constraints file for that install (URL or path; mlci ships its lock)
//   repositoryChecks mlci's own repository: also run `make lint` and its unit tests
//   modelName        registered model the deploy pipeline offers by default (MODEL_NAME)
Map call(Map config, String step, List<String> required) {
    Map defaults = [project: "", agentLabel: 'docker', mlciInstall: "", mlciConstraints: "",
                    repositoryChecks: false, modelName: ""]
    List<String> unknown = []
    for (String key in config.keySet()) {
        if (!defaults.containsKey(key)) {
            unknown.add(key)
        }
    }
    if (unknown) {
        error("${step}: unknown option(s) ${unknown.join(', ')}; known: ${defaults.keySet().join(', ')}")
    }
    Map cfg = defaults + config
    for (String key in (['project'] + required)) {
        if (!cfg[key]) {
            error("${step}: option ${key} is required (see the step's help, vars/${step}.txt)")
        }
    }
    if (!cfg.project.matches('[a-z0-9][a-z0-9-]*')) {
        error("${step}: project '${cfg.project}' must be lower-case letters, digits and dashes")
    }
    return cfg
}
