{{/* The names and labels every object of the release shares. */}}
{{- define "ftp2s3.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ftp2s3.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ftp2s3.labels" -}}
{{ include "ftp2s3.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ftp2s3.s3Secret" -}}
{{- .Values.s3.existingSecret | default (printf "%s-s3" (include "ftp2s3.fullname" .)) -}}
{{- end -}}

{{- define "ftp2s3.usersSecret" -}}
{{- .Values.users.existingSecret | default (printf "%s-users" (include "ftp2s3.fullname" .)) -}}
{{- end -}}

{{- define "ftp2s3.eventsSecret" -}}
{{- .Values.events.token.existingSecret | default (printf "%s-events" (include "ftp2s3.fullname" .)) -}}
{{- end -}}

{{/*
The pods of the release by name, in order: what the StatefulSet controller
calls them (label statefulset.kubernetes.io/pod-name). perReplica runs one
StatefulSet of one pod per replica.
*/}}
{{- define "ftp2s3.podNames" -}}
{{- $full := include "ftp2s3.fullname" . -}}
{{- $n := ternary 1 (int .Values.replicas) (eq .Values.mode "single") -}}
{{- range $i := until $n -}}
{{- if eq $.Values.mode "perReplica" }}{{ printf "%s-%d-0" $full $i }}{{ else }}{{ printf "%s-%d" $full $i }}{{ end }}{{ " " }}
{{- end -}}
{{- end -}}

{{/*
The checks a wrong combination fails at render time, rather than in a pod
that announces ports nobody publishes.
*/}}
{{- define "ftp2s3.validate" -}}
{{- if not (has .Values.mode (list "single" "perReplica" "hostNetwork")) -}}
{{- fail (printf "mode must be single, perReplica or hostNetwork, not %q" .Values.mode) -}}
{{- end -}}
{{- if and (eq .Values.mode "perReplica") .Values.passive.publicHosts (ne (len .Values.passive.publicHosts) (int .Values.replicas)) -}}
{{- fail (printf "passive.publicHosts has %d hosts for %d replicas" (len .Values.passive.publicHosts) (int .Values.replicas)) -}}
{{- end -}}
{{- if and (not .Values.users.existingSecret) (not .Values.users.records) -}}
{{- fail "users: set users.existingSecret or users.records" -}}
{{- end -}}
{{- if and (ne .Values.tls.mode "off") (not .Values.tls.secretName) -}}
{{- fail "tls.secretName is needed unless tls.mode is off" -}}
{{- end -}}
{{- if and (ne .Values.proxyProtocol.mode "off") (not .Values.proxyProtocol.trusted) -}}
{{- fail "proxyProtocol.trusted is needed unless proxyProtocol.mode is off" -}}
{{- end -}}
{{- /* The events listener is on the pod's network: never without a token. */ -}}
{{- if and .Values.events.enabled (not .Values.events.token.existingSecret) (not .Values.events.token.value) -}}
{{- fail "events.enabled needs events.token.existingSecret or events.token.value (e.g. openssl rand -hex 32)" -}}
{{- end -}}
{{- if and .Values.events.enabled (not .Values.events.token.existingSecret) (not (regexMatch "^[!-~]+$" (toString .Values.events.token.value))) -}}
{{- fail "events.token.value must be printable ASCII without spaces" -}}
{{- end -}}
{{- if and .Values.events.enabled (not .Values.events.token.key) -}}
{{- fail "events.token.key must name the Secret's key holding the token" -}}
{{- end -}}
{{- end -}}

{{/*
One pod template. Arguments: root (the chart's context), lo and hi (the
passive range this pod announces), host (the address it announces; ignored in
hostNetwork mode) and replica (its index, or "" when not per replica).
*/}}
{{- define "ftp2s3.podTemplate" -}}
{{- $ := .root -}}
{{- $v := $.Values -}}
metadata:
  labels:
    {{- include "ftp2s3.labels" $ | nindent 4 }}
    {{- if ne .replica "" }}
    ftp2s3.io/replica: {{ .replica | quote }}
    {{- end }}
  annotations:
    checksum/users: {{ $v.users.records | toJson | sha256sum }}
spec:
  terminationGracePeriodSeconds: {{ add $v.shutdownGraceSeconds $v.drainMarginSeconds }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- if eq $v.mode "hostNetwork" }}
  hostNetwork: true
  dnsPolicy: ClusterFirstWithHostNet
  affinity:
    podAntiAffinity:
      # Every pod listens on the same ports of its node: one per node.
      requiredDuringSchedulingIgnoredDuringExecution:
        - topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "ftp2s3.selectorLabels" $ | nindent 14 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    fsGroup: 65532
    seccompProfile:
      type: RuntimeDefault
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: ftp2s3
      image: {{ printf "%s:%s" $v.image.repository $v.image.tag | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
      env:
        - name: AWS_ENDPOINT_URL_S3
          valueFrom:
            secretKeyRef:
              name: {{ include "ftp2s3.s3Secret" $ }}
              key: endpoint
              optional: true
        - name: AWS_ACCESS_KEY_ID
          valueFrom:
            secretKeyRef:
              name: {{ include "ftp2s3.s3Secret" $ }}
              key: accessKeyId
        - name: AWS_SECRET_ACCESS_KEY
          valueFrom:
            secretKeyRef:
              name: {{ include "ftp2s3.s3Secret" $ }}
              key: secretAccessKey
        - name: AWS_REGION
          value: {{ $v.s3.region | quote }}
        - name: FTP2S3_S3_PATH_STYLE
          value: {{ $v.s3.pathStyle | quote }}
        - name: FTP2S3_BUCKET
          value: {{ $v.s3.bucket | quote }}
        - name: FTP2S3_PREFIX
          value: {{ $v.s3.prefix | quote }}
        - name: FTP2S3_CREATE_BUCKETS
          value: {{ $v.s3.createBuckets | quote }}
        - name: FTP2S3_USERS_FILE
          value: /etc/ftp2s3/users/users
        - name: FTP2S3_STRICT_ENV
          value: "true"
        - name: FTP2S3_LISTEN
          value: {{ printf ":%d" (int $v.service.controlPort) | quote }}
        - name: FTP2S3_PASSIVE_PORTS
          value: {{ printf "%d-%d" (int .lo) (int .hi) | quote }}
        - name: FTP2S3_PUBLIC_HOST
          {{- if eq $v.mode "hostNetwork" }}
          valueFrom:
            fieldRef:
              fieldPath: status.hostIP
          {{- else }}
          value: {{ .host | quote }}
          {{- end }}
        {{- with $v.passive.hostOverrides }}
        - name: FTP2S3_PASSIVE_HOST_OVERRIDES
          value: {{ . | quote }}
        {{- end }}
        - name: FTP2S3_METRICS_LISTEN
          value: {{ printf ":%d" (int $v.metrics.port) | quote }}
        - name: FTP2S3_LOG_FORMAT
          value: json
        - name: FTP2S3_LOG_LEVEL
          value: {{ $v.logLevel | quote }}
        - name: FTP2S3_SHUTDOWN_GRACE
          value: {{ printf "%ds" (int $v.shutdownGraceSeconds) | quote }}
        - name: FTP2S3_MEMORY_LIMIT
          value: {{ printf "%dMiB" (div (mul (int $v.memory.limitMiB) (int $v.memory.budgetPercent)) 100) | quote }}
        - name: FTP2S3_TLS
          value: {{ $v.tls.mode | quote }}
        {{- if ne $v.tls.mode "off" }}
        - name: FTP2S3_TLS_CERT
          value: /etc/ftp2s3/tls/tls.crt
        - name: FTP2S3_TLS_KEY
          value: /etc/ftp2s3/tls/tls.key
        - name: FTP2S3_TLS_SESSION_REUSE
          value: {{ $v.tls.sessionReuse | quote }}
        {{- end }}
        {{- if eq $v.tls.mode "implicit" }}
        - name: FTP2S3_TLS_LISTEN
          value: {{ printf ":%d" (int $v.tls.implicitPort) | quote }}
        {{- end }}
        - name: FTP2S3_PROXY_PROTOCOL
          value: {{ $v.proxyProtocol.mode | quote }}
        {{- if ne $v.proxyProtocol.mode "off" }}
        - name: FTP2S3_PROXY_TRUSTED
          value: {{ $v.proxyProtocol.trusted | quote }}
        {{- end }}
        {{- if $v.events.enabled }}
        - name: FTP2S3_S3_EVENTS_LISTEN
          value: {{ printf ":%d" (int $v.events.port) | quote }}
        # Not optional: a pod whose token is missing does not start, rather
        # than serve the endpoint without one.
        - name: FTP2S3_S3_EVENTS_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ include "ftp2s3.eventsSecret" $ }}
              key: {{ $v.events.token.key }}
        {{- end }}
        {{- range $name, $value := $v.extraEnv }}
        - name: {{ $name }}
          value: {{ $value | quote }}
        {{- end }}
      ports:
        - name: ftp
          containerPort: {{ $v.service.controlPort }}
          {{- if eq $v.mode "hostNetwork" }}
          hostPort: {{ $v.service.controlPort }}
          {{- end }}
        {{- if eq $v.tls.mode "implicit" }}
        - name: ftps
          containerPort: {{ $v.tls.implicitPort }}
          {{- if eq $v.mode "hostNetwork" }}
          hostPort: {{ $v.tls.implicitPort }}
          {{- end }}
        {{- end }}
        - name: metrics
          containerPort: {{ $v.metrics.port }}
        {{- if $v.events.enabled }}
        - name: events
          containerPort: {{ $v.events.port }}
        {{- end }}
        {{- range $p := untilStep (int .lo) (int (add1 .hi)) 1 }}
        - name: {{ printf "pasv-%d" $p }}
          containerPort: {{ $p }}
          {{- if eq $v.mode "hostNetwork" }}
          hostPort: {{ $p }}
          {{- end }}
        {{- end }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: metrics
        periodSeconds: 10
        failureThreshold: 3
      readinessProbe:
        # 503 when S3 is unreachable and while draining after SIGTERM.
        httpGet:
          path: /readyz
          port: metrics
        periodSeconds: 5
        failureThreshold: 1
      resources:
        requests:
          cpu: {{ $v.cpu.request | quote }}
          memory: {{ printf "%dMi" (int $v.memory.requestMiB) | quote }}
        limits:
          memory: {{ printf "%dMi" (int $v.memory.limitMiB) | quote }}
      volumeMounts:
        - name: users
          mountPath: /etc/ftp2s3/users
          readOnly: true
        {{- if ne $v.tls.mode "off" }}
        - name: tls
          mountPath: /etc/ftp2s3/tls
          readOnly: true
        {{- end }}
  volumes:
    - name: users
      secret:
        secretName: {{ include "ftp2s3.usersSecret" $ }}
    {{- if ne $v.tls.mode "off" }}
    - name: tls
      secret:
        secretName: {{ $v.tls.secretName }}
    {{- end }}
{{- end -}}

{{/*
The control ports of a Service. With NodePort the control port's node port
is service.controlNodePort (or one the cluster picks): clients are told it
once, unlike passive ports, which PASV names.
*/}}
{{- define "ftp2s3.controlPorts" -}}
{{- $v := .Values -}}
- name: ftp
  port: {{ $v.service.controlPort }}
  targetPort: {{ $v.service.controlPort }}
  {{- if and (eq $v.service.type "NodePort") $v.service.controlNodePort }}
  nodePort: {{ $v.service.controlNodePort }}
  {{- end }}
{{- if eq $v.tls.mode "implicit" }}
- name: ftps
  port: {{ $v.tls.implicitPort }}
  targetPort: {{ $v.tls.implicitPort }}
{{- end }}
{{- end -}}

{{/*
The passive ports lo..hi of a Service, each published on its own number (as
node port too with NodePort), because PASV and EPSV name the port the pod
listens on. Arguments: root, lo, hi.
*/}}
{{- define "ftp2s3.passivePorts" -}}
{{- $v := .root.Values -}}
{{- range $p := untilStep (int .lo) (int (add1 .hi)) 1 }}
- name: {{ printf "pasv-%d" $p }}
  port: {{ $p }}
  targetPort: {{ $p }}
  {{- if eq $v.service.type "NodePort" }}
  nodePort: {{ $p }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* What every externally reachable Service shares. */}}
{{- define "ftp2s3.serviceCommon" -}}
type: {{ .Values.service.type }}
{{- if has .Values.service.type (list "LoadBalancer" "NodePort") }}
externalTrafficPolicy: {{ .Values.service.externalTrafficPolicy }}
{{- end }}
{{- end -}}
