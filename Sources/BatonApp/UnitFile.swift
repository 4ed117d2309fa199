import BatonCore
import Foundation

/// The `baton.service` unit, with timeouts that agree with a configuration.
public enum UnitFile {
    /// Seconds after the drain (and its interrupt grace) for closing connections and the
    /// last commit; Baton's own shutdown is bounded well inside it.
    public static let shutdownMargin: Double = 15

    /// The stop timeout that covers a full drain: `drain.timeout` + `drain.interrupt_grace` + margin.
    public static func stopTimeoutSeconds(for configuration: Configuration) -> Int {
        Int((configuration.drain.timeout + configuration.drain.interruptGrace + shutdownMargin).rounded(.up))
    }

    /// The unit text; `executable` is the path of `baton`, `configurationPath` the
    /// configuration file it reads (`BATON_CONFIG`), if any.
    ///
    /// A gateway that reaches over the network (PostgreSQL, a Matrix homeserver) starts
    /// once the network is up (`network-online.target`), not merely configured.
    public static func service(
        for configuration: Configuration, executable: String = "/usr/local/bin/baton", configurationPath: String? = nil
    ) -> String {
        let online = configuration.store.isShared || configuration.matrix != nil
        let network = online ? "Wants=network-online.target\nAfter=network-online.target" : "After=network.target"
        // Quoted, and `%` doubled: systemd would split at a space and expand `%` specifiers.
        let configurationLine =
            configurationPath.map { path in
                let escaped = path.replacingOccurrences(of: "%", with: "%%").replacingOccurrences(of: "\"", with: "\\\"")
                return "\n# The configuration file (baton units --config).\nEnvironment=\"BATON_CONFIG=\(escaped)\""
            } ?? ""
        return """
        [Unit]
        Description=Baton chat gateway
        Documentation=file:///usr/share/doc/baton/README.md
        \(network)
        StartLimitIntervalSec=60
        StartLimitBurst=20

        [Service]
        Type=notify
        NotifyAccess=main
        ExecStart=\(executable) serve
        ExecReload=/bin/kill -USR1 $MAINPID
        # glibc's per-thread cache of freed memory, read at exec only (README, "Memory allocator").
        Environment=GLIBC_TUNABLES=\(AllocatorTuning.unitTunables)\(configurationLine)
        # 75: drained for a restart, start the next process; 78: bad configuration, stop.
        Restart=on-failure
        RestartSec=0
        RestartForceExitStatus=75
        SuccessExitStatus=75
        RestartPreventExitStatus=78
        # drain.timeout (\(Self.format(configuration.drain.timeout))) + drain.interrupt_grace (\(Self.format(configuration.drain.interruptGrace))) + \(Int(shutdownMargin)) s to close.
        TimeoutStopSec=\(stopTimeoutSeconds(for: configuration))
        KillMode=mixed
        # The listening socket survives restarts in systemd's fd store.
        FileDescriptorStoreMax=4
        StateDirectory=baton
        StateDirectoryMode=0700
        RuntimeDirectory=baton
        RuntimeDirectoryMode=0700
        RuntimeDirectoryPreserve=yes

        # Sandboxing: Baton needs its state and runtime directories, TCP and Unix sockets,
        # and to run its agents; nothing else.
        DynamicUser=yes
        UMask=0077
        NoNewPrivileges=yes
        CapabilityBoundingSet=
        AmbientCapabilities=
        ProtectSystem=strict
        ProtectHome=yes
        PrivateTmp=yes
        PrivateDevices=yes
        PrivateUsers=yes
        ProtectHostname=yes
        ProtectClock=yes
        ProtectKernelTunables=yes
        ProtectKernelModules=yes
        ProtectKernelLogs=yes
        ProtectControlGroups=yes
        ProtectProc=invisible
        ProcSubset=pid
        RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
        RestrictNamespaces=yes
        RestrictRealtime=yes
        RestrictSUIDSGID=yes
        LockPersonality=yes
        MemoryDenyWriteExecute=yes
        RemoveIPC=yes
        DevicePolicy=closed
        KeyringMode=private
        SystemCallArchitectures=native
        SystemCallFilter=@system-service
        SystemCallFilter=~@privileged @resources
        SystemCallErrorNumber=EPERM
        IPAddressDeny=any
        IPAddressAllow=localhost

        [Install]
        WantedBy=multi-user.target

        """
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }
}
