// mlciTrainingPipeline(project: 'NAME', ...): the training pipeline (multibranch job "train",
// jenkins/jobs/train.xml), loaded from this shared library by a three-line Jenkinsfile
// (vars/mlciTrainingPipeline.txt; the options: vars/mlciOptions.txt).
// Thin on purpose: every stage is one `mlci` command run in the stage image (built per build
// from the locks by `mlci pipeline ci-image`, see mlciStageImage); `mlci pipeline run` runs the
// same stages on a laptop.
// Pull requests validate, train and evaluate; only main registers a model version.
// Results read in Jenkins: JUnit (tests, data contract, gates), Warnings NG (ruff, hadolint,
// shellcheck), the champion-vs-challenger report (HTML Publisher, "model-report"), and the
// build description (the gate's verdict and the registered version).
// No cron here: scheduled retraining is the retrain job's (mlciRetrainPipeline), which queues
// this pipeline on main with FORCE_RETRAIN only when `mlci ct check` asks for it.
void call(Map config) {
    Map cfg = mlciOptions(config, 'mlciTrainingPipeline', [])
    pipeline {
        agent none

        options {
            timeout(time: 2, unit: 'HOURS')
            timestamps()
            buildDiscarder(logRotator(numToKeepStr: '30', artifactNumToKeepStr: '10'))
            // A newer build of a branch aborts the older one, except on main: a main build may be
            // inside Register, and a retraining queued meanwhile must wait for it, not kill it.
            disableConcurrentBuilds(abortPrevious: env.BRANCH_NAME != 'main')
        }

        parameters {
            string(name: 'DATASET_VERSION', defaultValue: "",
                   description: 'Dataset snapshot to use (empty: data.version in mlci.yaml)')
            booleanParam(name: 'FORCE_RETRAIN', defaultValue: false,
                         description: 'Train even when no model code, data or config changed')
            string(name: 'RETRAIN_REASON', defaultValue: "",
                   description: 'Why retraining was triggered (set by mlci ct check --trigger)')
        }

        stages {
            // Why not `agent { dockerfile ... }`: a stage's agent is allocated (and a dockerfile agent's
            // image built) BEFORE any of that stage's steps run, but docker/ci.Dockerfile needs the
            // repository root as context plus a wheelhouse that must be built on the host first
            // (hermetic build, no network inside `docker build`). So the outer stage takes a
            // Docker-capable node, its first nested stage builds the stage image there with
            // `mlci pipeline ci-image` (wheelhouse, then build) and records the image id, and the
            // nested stages after it run in that image with `reuseNode true` (same node, same
            // workspace: the image exists only in that node's Docker Engine). The id, not a tag, is
            // used, so concurrent builds that retag image.ci_image cannot swap a build's image.
            stage('CI') {
                agent { label "${cfg.agentLabel}" }
                environment {
                    // Empty keeps data.version from mlci.yaml (see datasetEnv below).
                    MLCI_PATHS__BUILD = 'build'
                }
                stages {
                    stage('Stage image') {
                        steps {
                            script {
                                env.CI_IMAGE = mlciStageImage(cfg, 'dev')
                            }
                        }
                    }
                    stage('Lint and unit tests') {
                        // mlci's own repository (repositoryChecks): on the node, not in the stage
                        // image: the linters (ruff, shellcheck, hadolint, npm-groovy-lint on
                        // Node.js + Java) and pytest are dev tools, installed into .venv by
                        // `scripts/venv.sh dev` (mlciStageImage).
                        when {
                            expression { cfg.repositoryChecks }
                        }
                        steps {
                            // LINT_REPORTS: scripts/lint.sh also writes ruff/hadolint/shellcheck
                            // reports there for Warnings NG (recordIssues below).
                            withEnv(['LINT_REPORTS=build/lint']) {
                                sh 'make lint'
                            }
                            sh '.venv/bin/pytest tests/unit -q -p no:cacheprovider --junitxml=build/junit/unit.xml'
                        }
                    }
                    stage('Validate data') {
                        agent {
                            docker {
                                image "${env.CI_IMAGE}"
                                reuseNode true
                                // As `mlci pipeline run --executor docker`: an MLflow server on the
                                // node's loopback is reachable.
                                args '--network host'
                            }
                        }
                        steps {
                            withEnv(datasetEnv()) {
                                sh 'mlci data validate'
                            }
                        }
                    }
                    // No `when` guessing from the changeset (it misses what failed builds changed):
                    // `mlci train` computes the training-cache key (code, config, params, seed, data
                    // digest, lock, platform) and reuses a registered version or finished run that
                    // recorded it, so an unchanged build trains and registers nothing
                    // (docs/pipeline.md). FORCE_RETRAIN bypasses the cache.
                    stage('Model') {
                        agent {
                            docker {
                                image "${env.CI_IMAGE}"
                                reuseNode true
                                args '--network host'
                            }
                        }
                        stages {
                            stage('Train') {
                                steps {
                                    withCredentials(mlciCredentials(['mlflow'])) {
                                        // FORCE_RETRAIN=true makes `mlci train` bypass the cache;
                                        // MLCI_STAGE_IMAGE is recorded on the run (env.stage_image).
                                        withEnv(datasetEnv() + trainEnv()) {
                                            sh 'mlci train'
                                        }
                                    }
                                }
                            }
                            stage('Evaluate') {
                                steps {
                                    withCredentials(mlciCredentials(['mlflow'])) {
                                        sh 'mlci evaluate'
                                    }
                                }
                                post {
                                    always {
                                        script {
                                            currentBuild.description = gateVerdict()
                                        }
                                    }
                                }
                            }
                            stage('Register') {
                                when {
                                    branch 'main'
                                    not { changeRequest() }
                                }
                                steps {
                                    // `model register` keeps $BUILD_URL on the version (ci.build_url):
                                    // the deploy approval links to this build's model-report from it.
                                    withCredentials(mlciCredentials(['mlflow', 'state'])) {
                                        sh 'mkdir -p build/register && mlci model register --json > build/register/model_version.json'
                                    }
                                    script {
                                        def registered = readJSON(file: 'build/register/model_version.json')
                                        currentBuild.description =
                                            "${registered.name} version ${registered.version} registered; ${gateVerdict()}"
                                    }
                                }
                            }
                        }
                    }
                }
                post {
                    always {
                        junit allowEmptyResults: true,
                              testResults: 'build/junit/*.xml, build/validate/*.xml, build/evaluate/*.xml'
                        recordIssues enabledForFailure: true, skipPublishingChecks: true, tools: [
                            analysisParser(analysisModelId: 'ruff', pattern: 'build/lint/ruff.json'),
                            hadoLint(pattern: 'build/lint/hadolint.json'),
                            checkStyle(id: 'shellcheck', name: 'ShellCheck', pattern: 'build/lint/shellcheck.xml'),
                        ]
                        // The champion-vs-challenger report of `mlci evaluate` (report.html with
                        // report.css beside it; no script, so Jenkins' default CSP leaves it intact).
                        publishHTML target: [
                            reportName: 'model-report',
                            reportTitles: 'Champion vs challenger',
                            reportDir: 'build/evaluate',
                            reportFiles: 'report.html',
                            keepAll: true,
                            alwaysLinkToLastBuild: true,
                            allowMissing: true,
                        ]
                        archiveArtifacts allowEmptyArchive: true, fingerprint: true,
                                         artifacts: 'build/validate/**, build/evaluate/**, build/register/**, build/lint/**'
                    }
                }
            }
        }
    }
}

// "gate passed" / "gate failed" from build/evaluate/metrics.json (`mlci evaluate`), for the
// build description.
String gateVerdict() {
    String metrics = 'build/evaluate/metrics.json'
    return fileExists(metrics) ? "gate ${readJSON(file: metrics).verdict}" : 'not evaluated'
}

// withEnv entries of the train step: the cache bypass and the stage image trained in.
List<String> trainEnv() {
    return ["FORCE_RETRAIN=${params.FORCE_RETRAIN}", "MLCI_STAGE_IMAGE=${env.CI_IMAGE}"]
}

// withEnv entries for the dataset parameter: MLCI_DATA__VERSION only when one was given.
List<String> datasetEnv() {
    return params.DATASET_VERSION ? ["MLCI_DATA__VERSION=${params.DATASET_VERSION}"] : []
}
