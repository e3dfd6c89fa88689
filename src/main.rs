fn main() -> std::process::ExitCode {
    fleetflow::cli::main()
}
