// mlciRetrainPipeline(project: 'NAME', ...): continuous training (job ct/retrain,
// jenkins/jobs/ct/retrain.xml; vars/mlciRetrainPipeline.txt), the one schedule of the kit.
// Nightly, `mlci ct check --trigger` looks for new data, a performance drop or drift and, only
// when retraining is due, queues the training pipeline on main (FORCE_RETRAIN, with the
// reasons; the job is ct.job under jenkins.folder of the project's mlci.yaml) through the
// Jenkins API with the mlci-jenkins credential. Its exit code 10 means "retraining was due (and
// queued)", 0 "no action"; others fail. The controller's URL is the build's JENKINS_URL (JCasC
// location.url), not mlci.yaml's default: inside an agent, 127.0.0.1 is the agent. The cron
// below is the only definition of the schedule: `mlci jenkins apply` writes it into the job as
// Declarative does.
void call(Map config) {
    Map cfg = mlciOptions(config, 'mlciRetrainPipeline', [])
    pipeline {
        agent none

        options {
            timeout(time: 30, unit: 'MINUTES')
            timestamps()
            buildDiscarder(logRotator(numToKeepStr: '60'))
            disableConcurrentBuilds()
        }

        triggers {
            cron('H 3 * * *')
        }

        stages {
            stage('Check for retraining') {
                // A Docker-capable node; the stage image is built there first and the check runs in
                // it by id (reuseNode: same node and workspace). See mlciStageImage.
                agent { label "${cfg.agentLabel}" }
                stages {
                    stage('Stage image') {
                        steps {
                            script {
                                env.CI_IMAGE = mlciStageImage(cfg, 'runtime')
                            }
                        }
                    }
                    stage('Check') {
                        agent {
                            docker {
                                image "${env.CI_IMAGE}"
                                reuseNode true
                                args '--network host'
                            }
                        }
                        steps {
                            withEnv(["MLCI_JENKINS__URL=${env.JENKINS_URL}"]) {
                                withCredentials(mlciCredentials(['mlflow', 'jenkins'])) {
                                    script {
                                        int status = sh(script: 'mlci ct check --trigger', returnStatus: true)
                                        if (status == 10) {
                                            currentBuild.description = 'retraining queued'
                                        } else if (status == 0) {
                                            currentBuild.description = 'no retraining needed'
                                        } else {
                                            error("mlci ct check failed with exit code ${status}")
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                post {
                    always {
                        archiveArtifacts allowEmptyArchive: true, artifacts: 'build/ct/**'
                    }
                }
            }
        }
    }
}
