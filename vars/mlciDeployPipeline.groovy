// mlciDeployPipeline(project: 'NAME', modelName: 'MODEL', ...): the deployment pipeline (job
// release/deploy, jenkins/jobs/release/deploy.xml; vars/mlciDeployPipeline.txt). ACTION=deploy: a
// registered model version goes through a manual approval gate, then image build and push,
// staging with its smoke test, and production. ACTION=rollback: ENVIRONMENT returns to the
// version that served before the current one (`mlci deploy rollback`), approved the same way.
// Every stage is one `mlci` command in the stage image; secrets reach the shell through
// withCredentials and single-quoted `sh`, so Groovy never interpolates them. The parameters
// below are the only definition: `mlci jenkins apply` writes them into the job as Declarative
// does (MODEL_NAME's default is the Jenkinsfile's modelName option).
//
// No disableConcurrentBuilds(): with a 3-day input it would keep every later deploy blocked in
// the queue. The project's `<project>-model-registry` lock serialises registry writes and
// releases, and the milestones let a newer deployment that passes a point abort older ones
// still before it.
void call(Map config) {
    Map cfg = mlciOptions(config, 'mlciDeployPipeline', ['modelName'])
    pipeline {
        agent none

        options {
            timestamps()
            buildDiscarder(logRotator(numToKeepStr: '50'))
            // "Restart from Stage" would let anyone with Job/Build skip the Approval stage.
            disableRestartFromStage()
        }

        parameters {
            choice(name: 'ACTION', choices: ['deploy', 'rollback'],
                   description: 'deploy: MODEL_VERSION through staging to production; rollback: ENVIRONMENT to its previous version')
            string(name: 'MODEL_NAME', defaultValue: cfg.modelName, description: 'Registered model name')
            string(name: 'MODEL_VERSION', defaultValue: "", description: 'Model version to deploy (ACTION=deploy)')
            choice(name: 'ENVIRONMENT', choices: ['production', 'staging'], description: 'Environment to roll back (ACTION=rollback)')
        }

        stages {
            // Each top-level stage takes a Docker-capable node, builds the stage image there first
            // (mlciStageImage: `mlci pipeline ci-image`, wheelhouse then build; a no-op-fast rerun
            // when locks and code are unchanged) and runs its mlci steps in that image by id with
            // `reuseNode true`: a stage's agent is allocated before its steps run, and the image
            // exists only in that node's Docker Engine. `agent none` above means nothing is held
            // while the Approval stage waits for its input (input comes before agent in a stage).
            stage('Verify gate') {
                agent { label "${cfg.agentLabel}" }
                stages {
                    stage('Stage image (gate)') {
                        steps {
                            script {
                                env.CI_IMAGE = mlciStageImage(cfg, 'runtime')
                            }
                        }
                    }
                    stage('Check gate') {
                        when {
                            expression { params.ACTION == 'deploy' }
                        }
                        agent {
                            docker {
                                image "${env.CI_IMAGE}"
                                reuseNode true
                                args '--network host'
                            }
                        }
                        steps {
                            withCredentials(mlciCredentials(['mlflow'])) {
                                sh '''mkdir -p build/deploy && \
                                    mlci model show "$MODEL_NAME" "$MODEL_VERSION" --json >build/deploy/version.json'''
                            }
                            sh 'mlci jenkins approval-message build/deploy/version.json >build/deploy/approval.txt'
                            script {
                                // Tag name and value from ml/registry/tags.py (GATE_VERDICT, GateVerdict.PASSED).
                                def mv = readJSON(file: 'build/deploy/version.json')
                                if (mv.tags == null || mv.tags['gate.verdict'] != 'passed') {
                                    error("${params.MODEL_NAME} version ${params.MODEL_VERSION} did not pass its evaluation gate")
                                }
                                env.APPROVAL_MESSAGE = readFile('build/deploy/approval.txt').trim()
                            }
                            // A newer deployment that passes this point aborts older ones still waiting.
                            milestone(ordinal: 10, label: 'gate checked')
                        }
                    }
                    stage('Check rollback') {
                        when {
                            expression { params.ACTION == 'rollback' }
                        }
                        agent {
                            docker {
                                image "${env.CI_IMAGE}"
                                reuseNode true
                                args '--network host'
                            }
                        }
                        steps {
                            withCredentials(mlciCredentials(['mlflow', 'state'])) {
                                sh 'mkdir -p build/deploy && mlci deploy status "$ENVIRONMENT" --json >build/deploy/status.json'
                            }
                            sh 'mlci jenkins approval-message build/deploy/status.json --rollback "$ENVIRONMENT" >build/deploy/approval.txt'
                            script {
                                env.APPROVAL_MESSAGE = readFile('build/deploy/approval.txt').trim()
                            }
                            milestone(ordinal: 10, label: 'rollback checked')
                        }
                    }
                }
                post {
                    always {
                        archiveArtifacts allowEmptyArchive: true, artifacts: 'build/deploy/*.json, build/deploy/*.txt'
                    }
                }
            }
            stage('Approval') {
                options {
                    // Bounds the wait for a decision too (options come before input in a stage).
                    timeout(time: 3, unit: 'DAYS')
                }
                input {
                    // The candidate's facts (gate, metric, data, commit, link to its report) or the
                    // rollback's, written by `mlci jenkins approval-message` in the stage above.
                    message "${env.APPROVAL_MESSAGE}"
                    id 'promote'
                    ok 'Approve'
                    // The approvers' user ids (comma-separated), the controller's global env
                    // MLCI_APPROVERS (jenkins/casc.yaml): the local realm grants its users no groups.
                    // Unset, it is "null" and only administrators may approve.
                    submitter "${env.MLCI_APPROVERS}"
                    submitterParameter 'APPROVER'
                    parameters {
                        string(name: 'REASON', defaultValue: "", description: 'Why this may ship (or be rolled back)')
                    }
                }
                // Allocated only after the input was answered. Possibly another node: build again.
                agent { label "${cfg.agentLabel}" }
                stages {
                    stage('Stage image (approval)') {
                        steps {
                            script {
                                env.CI_IMAGE = mlciStageImage(cfg, 'runtime')
                            }
                        }
                    }
                    stage('Record approval') {
                        agent {
                            docker {
                                image "${env.CI_IMAGE}"
                                reuseNode true
                                args '--network host'
                            }
                        }
                        steps {
                            milestone(ordinal: 20, label: 'approved')
                            script {
                                if (params.ACTION == 'deploy') {
                                    // The proof is this build's answered input: `mlci model approve`
                                    // asks the Jenkins API who answered Promote (push, deploy and
                                    // rollback ask again), so APPROVER is only cross-checked.
                                    lock("${cfg.project}-model-registry") {
                                        withCredentials(mlciCredentials(['mlflow', 'jenkins', 'state'])) {
                                            sh '''mlci model approve "$MODEL_NAME" "$MODEL_VERSION" \
                                                --jenkins-build "$BUILD_URL" --input-id Promote --by "$APPROVER" --reason "$REASON"'''
                                        }
                                    }
                                    // The proof lives as long as this build: never discarded by
                                    // buildDiscarder (RunWrapper.setKeepLog, whitelisted).
                                    currentBuild.keepLog = true
                                } else {
                                    echo "Rollback of ${params.ENVIRONMENT} approved by ${env.APPROVER}"
                                }
                            }
                        }
                    }
                }
            }
            stage('Release') {
                when {
                    // Decided before the lock and the node are taken.
                    beforeOptions true
                    expression { params.ACTION == 'deploy' }
                }
                options {
                    lock(resource: "${cfg.project}-model-registry")
                    timeout(time: 1, unit: 'HOURS')
                }
                agent { label "${cfg.agentLabel}" }
                stages {
                    stage('Stage image (release)') {
                        steps {
                            script {
                                env.CI_IMAGE = mlciStageImage(cfg, 'runtime')
                                env.DOCKER_GID = mlciStageImage.dockerSocketGroup()
                            }
                        }
                    }
                    stage('Ship') {
                        // model build/push and deploy drive the node's Docker Engine through the
                        // Docker SDK: its socket, and its group so the container's user may use it.
                        // Host networking lets the health checks and the smoke test reach the ports
                        // the serving containers publish on the node (else set
                        // environments.<env>.check_host, see docs/deploy.md).
                        agent {
                            docker {
                                image "${env.CI_IMAGE}"
                                reuseNode true
                                args "--network host -v /var/run/docker.sock:/var/run/docker.sock --group-add ${env.DOCKER_GID}"
                            }
                        }
                        stages {
                            stage('Build image') {
                                steps {
                                    withCredentials(mlciCredentials(['mlflow'])) {
                                        sh 'mlci model build "$MODEL_NAME" "$MODEL_VERSION"'
                                    }
                                }
                            }
                            stage('Push image') {
                                steps {
                                    withCredentials(mlciCredentials(['registry', 'mlflow', 'jenkins'])) {
                                        sh 'mlci model push "$MODEL_NAME" "$MODEL_VERSION"'
                                    }
                                }
                            }
                            stage('Deploy staging') {
                                steps {
                                    withCredentials(mlciCredentials(['registry', 'mlflow', 'jenkins', 'state'])) {
                                        sh 'mlci deploy staging "$MODEL_NAME" "$MODEL_VERSION"'
                                    }
                                }
                            }
                            stage('Smoke test') {
                                steps {
                                    withCredentials(mlciCredentials(['mlflow', 'state'])) {
                                        sh 'mlci deploy status staging'
                                    }
                                }
                            }
                            stage('Promote') {
                                steps {
                                    milestone(ordinal: 30, label: 'promoting')
                                    withCredentials(mlciCredentials(['registry', 'mlflow', 'jenkins', 'state'])) {
                                        sh 'mlci deploy production "$MODEL_NAME" "$MODEL_VERSION"'
                                    }
                                }
                            }
                        }
                    }
                }
                post {
                    always {
                        archiveArtifacts allowEmptyArchive: true, artifacts: 'build/deploy/**'
                    }
                }
            }
            stage('Rollback') {
                when {
                    beforeOptions true
                    expression { params.ACTION == 'rollback' }
                }
                options {
                    lock("${cfg.project}-model-registry")
                    timeout(time: 30, unit: 'MINUTES')
                }
                agent { label "${cfg.agentLabel}" }
                stages {
                    stage('Stage image (rollback)') {
                        steps {
                            script {
                                env.CI_IMAGE = mlciStageImage(cfg, 'runtime')
                                env.DOCKER_GID = mlciStageImage.dockerSocketGroup()
                            }
                        }
                    }
                    stage('Roll back') {
                        agent {
                            docker {
                                image "${env.CI_IMAGE}"
                                reuseNode true
                                args "--network host -v /var/run/docker.sock:/var/run/docker.sock --group-add ${env.DOCKER_GID}"
                            }
                        }
                        steps {
                            milestone(ordinal: 30, label: 'rolling back')
                            withCredentials(mlciCredentials(['registry', 'mlflow', 'jenkins', 'state'])) {
                                sh 'mlci deploy rollback "$ENVIRONMENT"'
                            }
                        }
                    }
                }
            }
        }
    }
}
