fn main() {
    println!("{}", vmscan::EBPF_OBJECT.len());
}
