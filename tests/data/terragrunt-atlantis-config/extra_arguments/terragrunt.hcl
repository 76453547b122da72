locals {
    ahhhhhh = "pst"
}