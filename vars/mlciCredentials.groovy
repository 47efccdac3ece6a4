// The credential bindings mlci's steps use, by purpose: withCredentials(mlciCredentials(['mlflow'])).
// The ids are the same in every project: `mlci jenkins credentials apply` creates them in the
// folder stores of the project's own Jenkins folder (jenkins.folder in mlci.yaml), so two
// projects on one controller each see only their own (docs/jenkins.md, Several projects).
List call(List<String> purposes) {
    List bindings = []
    for (String purpose in purposes) {
        bindings.add(binding(purpose))
    }
    return bindings
}

Object binding(String purpose) {
    switch (purpose) {
        case 'mlflow':
            // The MLflow tracking server's login (MLflow reads these variables); the tracking
            // URI is the controller's global MLCI_MLFLOW__TRACKING_URI (jenkins/casc.yaml).
            return usernamePassword(credentialsId: 'mlci-mlflow',
                                    usernameVariable: 'MLFLOW_TRACKING_USERNAME',
                                    passwordVariable: 'MLFLOW_TRACKING_PASSWORD')
        case 'state':
            // The team PostgreSQL holding deploy history and locks (state.url is the global
            // MLCI_STATE__URL; docs/team.md): every step that moves an alias, takes a lock or
            // reads/writes the deploy history binds it.
            return usernamePassword(credentialsId: 'mlci-state',
                                    usernameVariable: 'PGUSER',
                                    passwordVariable: 'PGPASSWORD')
        case 'registry':
            // The image registry login, the variables of registry.username_env/password_env.
            return usernamePassword(credentialsId: 'mlci-registry',
                                    usernameVariable: 'MLCI_REGISTRY_USER',
                                    passwordVariable: 'MLCI_REGISTRY_PASSWORD')
        case 'jenkins':
            // The Jenkins API user and token (jenkins.user_env/token_env): approval proofs are
            // checked with it, and `mlci ct check --trigger` queues training with it.
            return usernamePassword(credentialsId: 'mlci-jenkins',
                                    usernameVariable: 'JENKINS_USER',
                                    passwordVariable: 'JENKINS_TOKEN')
        default:
            error("mlciCredentials: unknown purpose '${purpose}' (mlflow, state, registry, jenkins)")
    }
}
