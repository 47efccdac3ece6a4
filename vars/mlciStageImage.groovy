// Builds the stage image on this node and returns its image id (used instead of a tag, so a
// concurrent build retagging image.ci_image cannot swap it). A stage's agent is allocated
// before its steps run, so this runs on the Docker node before any `docker` agent stage.
// mlci comes from cfg.mlciInstall (a user's repository: pip, with cfg.mlciConstraints), else
// from this checkout's scripts/venv.sh with `profile` (mlci's own repository: 'dev' adds the
// linters and pytest). `mlci pipeline ci-image` then fills the wheelhouse on the node and
// builds the stage image from the checkout (hermetic: no network inside `docker build`).
String call(Map cfg, String profile) {
    if (cfg.mlciInstall) {
        withEnv(["MLCI_INSTALL=${cfg.mlciInstall}", "MLCI_CONSTRAINTS=${cfg.mlciConstraints}"]) {
            sh 'python3 -m venv .venv && .venv/bin/pip install --quiet ${MLCI_CONSTRAINTS:+-c "$MLCI_CONSTRAINTS"} "$MLCI_INSTALL"'
        }
    } else if (profile == 'dev') {
        sh 'scripts/venv.sh dev'
    } else {
        sh 'scripts/venv.sh runtime'
    }
    def built = readJSON(text: sh(script: '.venv/bin/mlci pipeline ci-image --json', returnStdout: true))
    return built.image_id
}

// The group id owning the node's Docker socket, for `docker run --group-add`.
String dockerSocketGroup() {
    return sh(script: 'stat -c %g /var/run/docker.sock', returnStdout: true).trim()
}
